"""The descriptor a plugin registers for each backend it provides."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from optuna_storage_kit.errors import PluginError
from optuna_storage_kit.spec.capabilities import Capabilities
from optuna_storage_kit.spec.options import HEARTBEAT_OPTIONS, MODE_OPTION, Option

if TYPE_CHECKING:
    from pathlib import Path

    from optuna.storages import BaseStorage

    from optuna_storage_kit.runtime.urls import StorageURL

__all__ = ["Backend", "OpenFunction"]

OpenFunction = Callable[["StorageURL", Mapping[str, Any]], "BaseStorage"]
"""``open(url, options) -> BaseStorage``: see :class:`Backend`."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9_]*$")  # what a URL scheme after "optuna+" can hold


@dataclasses.dataclass(frozen=True)
class Backend:
    """What a plugin tells optuna-storage-kit about one backend.

    Register it from the ``register_backends`` hook (see :mod:`optuna_storage_kit.spec.hookspecs`).

    Args:
        name: A short unique name, e.g. ``"sqlite-rust"``; lower case, digits, ``-`` and ``_``.
        schemes: The URL schemes it serves: ``("sqlite",)`` claims ``optuna+sqlite://``.
        version: The backend's own version, usually its distribution's.
        spec_version: The :data:`~optuna_storage_kit.SPEC_VERSION` the backend was written for.
            optuna-storage-kit refuses a backend whose spec version it does not implement.
        open: ``open(url, options) -> BaseStorage``. ``url`` is a
            :class:`~optuna_storage_kit.StorageURL` without query parameters; ``options`` holds
            every option in :attr:`all_options`, validated, with defaults filled in. It returns
            a new storage; it must not validate attribute values (the core does that once for
            every backend) and may raise only ``optuna_storage_kit.errors`` exceptions,
            ``OSError``, or the driver's connection errors.
        capabilities: What the backend claims; the conformance kit holds it to each claim.
        options: The backend's own options. The heartbeat options are added automatically when
            ``capabilities.heartbeat`` is set.
        description: One line shown by ``osk backends``.
        describe: Optional ``describe(storage) -> {label: text}`` for ``osk info``, e.g.
            ``{"format": "Optuna RDB schema 12"}``. It receives what ``open`` returned.
        capabilities_for: Optional ``capabilities_for(options) -> Capabilities``, for a backend
            whose claims depend on its options (``write_behind=false`` may make it
            ``write_through``). It receives the resolved options (defaults filled in) and
            returns the claims for them; ``capabilities`` must be what it returns for the
            defaults. ``osk certify 'URL?option=value'`` certifies that variant's claims.
        visibility_delay_s: How many seconds a running trial's writes (params, attributes,
            intermediate values) may stay invisible to *other* processes, e.g. a write-behind
            buffer's flush interval; ``0`` means visible once the call returns. A float, or
            ``visibility_delay_s(options) -> float``. The conformance kit checks it for
            ``multi_process`` backends.
        thresholds: The performance limits the conformance kit holds this backend to, by the
            names the kit defines (ratios to the reference backend and per-trial counts), e.g.
            ``{"random_5000.ratio": 1.5, "random_5000.statements_per_trial": 6}``.
        file_path: For a backend that keeps each store in a local file or directory:
            ``file_path(url) -> Path`` names it (``None`` when a URL names none). The tools
            use it to tell stores apart (``osk copy``), check that a source exists, and make
            new stores (``osk demo``, ``osk bench``). Usually
            :func:`optuna_storage_kit.toolkit.files.url_file`. ``None`` (the default): the
            stores are not files (a server, memory).
        file_suffix: With ``file_path``: the suffix the tools give a new store's file, e.g.
            ``".db"`` (``osk demo`` creates ``demo.db``).
        default_rank: How much the tools prefer this backend when the user names none: of the
            installed file backends, ``osk demo`` uses the one of highest rank (the in-memory
            reference when there is none).
    """

    name: str
    schemes: tuple[str, ...]
    version: str
    spec_version: int
    open: OpenFunction
    capabilities: Capabilities = dataclasses.field(default_factory=Capabilities)
    options: tuple[Option, ...] = ()
    description: str = ""
    describe: Callable[[BaseStorage], Mapping[str, str]] | None = None
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    capabilities_for: Callable[[Mapping[str, Any]], Capabilities] | None = None
    visibility_delay_s: float | Callable[[Mapping[str, Any]], float] = 0.0
    file_path: Callable[[StorageURL], Path | None] | None = None
    file_suffix: str = ""
    default_rank: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.schemes, str):
            object.__setattr__(self, "schemes", (self.schemes,))
        else:
            object.__setattr__(self, "schemes", tuple(self.schemes))
        object.__setattr__(self, "options", tuple(self.options))

    def problems(self) -> list[str]:
        """Return what is wrong with this descriptor (empty when it is valid)."""
        found = []
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            found.append(f"name {self.name!r} must match {_NAME.pattern}")
        if not self.schemes:
            found.append("it declares no URL scheme")
        for scheme in self.schemes:
            if not isinstance(scheme, str) or not _SCHEME.match(scheme):
                found.append(f"scheme {scheme!r} must match {_SCHEME.pattern} (no 'optuna+')")
        if not callable(self.open):
            found.append("open is not callable")
        if not isinstance(self.capabilities, Capabilities):
            found.append("capabilities must be an optuna_storage_kit.Capabilities")
        if self.capabilities_for is not None and not callable(self.capabilities_for):
            found.append("capabilities_for is not callable")
        delay = self.visibility_delay_s
        if not callable(delay) and (
            not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0
        ):
            found.append(f"visibility_delay_s {delay!r} must be a number >= 0 or a callable")
        if self.file_path is not None and not callable(self.file_path):
            found.append("file_path is not callable")
        if not isinstance(self.file_suffix, str):
            found.append(f"file_suffix {self.file_suffix!r} must be a str such as '.db'")
        if not isinstance(self.default_rank, int) or isinstance(self.default_rank, bool):
            found.append(f"default_rank {self.default_rank!r} must be an int")
        names = [o.name for o in self.all_options]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            found.append(f"options declared twice: {', '.join(dupes)}")
        return found

    @property
    def all_options(self) -> tuple[Option, ...]:
        """Every option the backend accepts: its own, the heartbeat ones (``heartbeat``
        capability) and ``mode`` (``read_only`` capability)."""
        extra = HEARTBEAT_OPTIONS if self.capabilities.heartbeat else ()
        mode = (MODE_OPTION,) if self.capabilities.read_only else ()
        return (*extra, *mode, *self.options)

    def claims(self, options: Mapping[str, Any]) -> Capabilities:
        """Return the capabilities the backend claims when opened with ``options``.

        Args:
            options: Resolved options, as :attr:`open` receives them.

        Raises:
            PluginError: ``capabilities_for`` returned something other than ``Capabilities``.
        """
        if self.capabilities_for is None:
            return self.capabilities
        claimed = self.capabilities_for(options)
        if not isinstance(claimed, Capabilities):
            raise PluginError(
                f"backend {self.name!r}: capabilities_for() returned "
                f"{type(claimed).__name__}, not an optuna_storage_kit.Capabilities"
            )
        return claimed

    def visibility_delay(self, options: Mapping[str, Any]) -> float:
        """Return :attr:`visibility_delay_s` for ``options`` (resolved options), in seconds."""
        if callable(self.visibility_delay_s):
            return float(self.visibility_delay_s(options))
        return float(self.visibility_delay_s)
