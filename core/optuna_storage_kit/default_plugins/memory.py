"""The reference backend: Optuna's InMemoryStorage behind the spec, with heartbeats.

``optuna+memory://`` opens a fresh, empty store. ``optuna+memory://NAME`` opens the store named
NAME, shared by everything in this process that opens the same name, so that ``create_study``
and ``load_study`` with one URL see the same studies. Nothing is ever written to disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.errors import InvalidOptionError, InvalidURLError
from optuna_storage_kit.runtime.urls import StorageURL
from optuna_storage_kit.spec import hookspecs
from optuna_storage_kit.spec.backend import Backend
from optuna_storage_kit.spec.capabilities import Capabilities
from optuna_storage_kit.toolkit.heartbeat import HeartbeatSettings

__all__ = ["MemoryStorage", "register_backends"]

_HEARTBEAT_KEYS = ("heartbeat_interval", "grace_period", "heartbeat_stale_trial_callback")


class MemoryStorage(InMemoryStorage, HeartbeatSettings):
    """Optuna's InMemoryStorage with RDBStorage's heartbeat semantics.

    A trial is stale when it is RUNNING, has recorded at least one heartbeat, and its last one
    is older than ``grace_period`` seconds (default ``2 * heartbeat_interval``).

    Thread-safe; not shared between processes.
    """

    def __init__(
        self,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__()
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        self._heartbeats: dict[int, float] = {}

    def record_heartbeat(self, trial_id: int) -> None:
        with self._lock:
            self._heartbeats[trial_id] = time.monotonic()

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.stale_after()
        now = time.monotonic()
        with self._lock:
            running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            return [
                t._trial_id
                for t in running
                if t._trial_id in self._heartbeats and now - self._heartbeats[t._trial_id] > grace
            ]


_named: dict[str, MemoryStorage] = {}
_named_lock = threading.Lock()


def open_memory(url: StorageURL, options: Mapping[str, Any]) -> MemoryStorage:
    """Open ``optuna+memory://`` (fresh) or ``optuna+memory://NAME`` (shared in-process)."""
    if url.database or url.username or url.port:
        raise InvalidURLError(
            f"{url} is not a memory URL: write 'optuna+memory://' for a fresh store or "
            "'optuna+memory://NAME' for a store shared by name within this process"
        )
    settings = {k: options.get(k) for k in _HEARTBEAT_KEYS}
    if not url.host:
        return MemoryStorage(**settings)
    with _named_lock:
        store = _named.get(url.host)
        if store is None:
            store = _named[url.host] = MemoryStorage(**settings)
            return store
    current = {k: getattr(store, k) for k in _HEARTBEAT_KEYS}
    if any(settings[k] is not None and settings[k] != current[k] for k in _HEARTBEAT_KEYS):
        raise InvalidOptionError(
            f"the memory store {url.host!r} is already open in this process with "
            f"heartbeat options {current}; open it with the same options, or use another name"
        )
    return store


def _describe(storage: Any) -> dict[str, str]:
    return {"format": "in-process memory (Optuna InMemoryStorage); nothing is persisted"}


@hookspecs.hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    from optuna_storage_kit import __version__

    register(
        Backend(
            name="memory",
            schemes=("memory",),
            version=__version__,
            spec_version=hookspecs.SPEC_VERSION,
            open=open_memory,
            capabilities=Capabilities(thread_safe=True, heartbeat=True, large_steps=True),
            description="Reference backend: Optuna's InMemoryStorage, one process, no files.",
            describe=_describe,
        )
    )
