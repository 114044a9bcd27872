"""Capability flags a backend declares about itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["IMPLIED", "Capabilities"]

IMPLIED: tuple[tuple[str, str], ...] = (
    ("write_through", "durable"),
    ("durable", "persistent"),
    ("multi_host", "multi_process"),
    ("read_only", "persistent"),
)
"""Pairs ``(a, b)``: a backend that claims ``a`` must also claim ``b``."""


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """Yes/no facts about a backend, each ``False`` unless the backend claims it.

    The conformance kit tests every claimed capability and skips, with the reason shown, the
    tests of capabilities that are not claimed. A claim that fails its tests is a failure.
    """

    thread_safe: bool = False
    """One storage object may be shared by many threads at once."""

    multi_process: bool = False
    """Several processes may open the same store at once, each through its own storage object."""

    multi_host: bool = False
    """Workers on different machines may share the store (a server database, for example)."""

    persistent: bool = False
    """Data outlives the process: reopening the same URL shows what was written before."""

    durable: bool = False
    """Optuna's persistence contract survives a kill (SIGKILL) of the writing process: once a
    call returns, every study write and every change of a trial's state (its creation included)
    is stored, together with all earlier writes to that trial (params, attributes, intermediate
    values). A running trial's own writes may wait for its next state change. This is what
    Optuna documents for its storages (``optuna.storages._CachedStorage``, "Data persistence").
    """

    write_through: bool = False
    """Stronger than ``durable``: *every* write that returned survives a kill, including the
    params, attributes and intermediate values of a trial that is still running."""

    heartbeat: bool = False
    """Supports ``heartbeat_interval``, ``grace_period`` and the stale-trial callback."""

    async_api: bool = False
    """Offers awaitable versions of the storage methods (see the backend's docs)."""

    large_steps: bool = False
    """Intermediate-value steps beyond 32 bits (up to ``2**63 - 1``) are stored exactly.
    Without it, such a step must still be stored exactly or refused with ``ValueError``."""

    read_only: bool = False
    """Opens an existing store read-only with the ``mode=ro`` option (``osk info`` does): it
    works on a read-only file, directory or database role, changes no byte and no catalog
    entry, and a store that does not exist is an error, never a new empty store. Every write
    through such a storage raises :class:`~optuna_storage_kit.errors.ReadOnlyStorageError`."""

    counters: bool = False
    """The storage has ``osk_counters() -> dict[str, int]`` with deterministic operation counts
    (``statements``, ``round_trips``, ``fsyncs``, ``commits``: whichever apply)."""

    def __post_init__(self) -> None:
        for stronger, weaker in IMPLIED:
            if getattr(self, stronger) and not getattr(self, weaker):
                raise ValueError(
                    f"the {stronger} capability implies {weaker}: claim both "
                    f"(Capabilities({stronger}=True, {weaker}=True, ...))"
                )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the names of all capability flags, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, names: Iterable[str]) -> Capabilities:
        """Build capabilities from flag names, e.g. ``Capabilities.of(["durable"])``.

        Raises:
            ValueError: A name is not a capability flag.
        """
        names = tuple(names)
        unknown = sorted(set(names) - set(cls.names()))
        if unknown:
            raise ValueError(
                f"unknown capabilities {unknown}; valid ones are {', '.join(cls.names())}"
            )
        return cls(**dict.fromkeys(names, True))

    def claimed(self) -> tuple[str, ...]:
        """Return the names of the flags that are ``True``."""
        return tuple(name for name in self.names() if getattr(self, name))
