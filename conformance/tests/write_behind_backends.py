"""Write-behind proof backends: a running trial's writes held in memory, written out later.

``_WriteBehind`` is Optuna's JournalStorage holding the journal records of a running trial's
params, attributes and intermediate values (applied at once to what this process reads) until
the trial's state changes. The correct one also writes them out:

- every ``flush_interval`` seconds (so other processes see them within its declared
  ``visibility_delay_s``), and at ``close()``;
- when the storage is garbage-collected: the finalizer only queues the held records (it never
  blocks or takes a lock) and a background thread writes the queue out;
- at interpreter exit (``atexit``, over weak references: storages can still be collected);
- before ``fork`` (so parent and child start with nothing held), and at the exit of a
  ``multiprocessing`` child, which leaves through ``os._exit`` and skips ``atexit``
  (``multiprocessing.util.register_after_fork`` plus ``multiprocessing.util.Finalize``).

A background write that fails (a full disk) keeps the records: the next flush or the state
change writes them, or raises.

This is the pattern the lifecycle category asks of every write-behind backend. The broken ones
leave out one part each.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import multiprocessing.util
import os
import threading
import time
import weakref
from typing import Any

from broken_backends import JOURNAL_CAPS, _declare, _Journal, _journal
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._storage import JournalOperation
from optuna.trial import FrozenTrial

HELD = frozenset(
    {
        JournalOperation.SET_TRIAL_PARAM,
        JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE,
        JournalOperation.SET_TRIAL_USER_ATTR,
        JournalOperation.SET_TRIAL_SYSTEM_ATTR,
    }
)
Held = dict[int, list[dict[str, Any]]]

_live: weakref.WeakSet[_WriteBehind] = weakref.WeakSet()
_deferred: collections.deque[tuple[JournalFileBackend, Held]] = collections.deque()
_drainer: list[threading.Thread] = []


def _write_out(backend: JournalFileBackend, held: Held, keep_on_failure: bool = True) -> None:
    """Append the held records; they are let go only once stored (unless told otherwise)."""
    records = [r for trial in held.values() for r in trial]
    if not records:
        return
    if not keep_on_failure:
        for trial in held.values():
            trial.clear()
        with contextlib.suppress(OSError):  # the bug of swallows_failed_flush
            backend.append_logs(records)
        return
    backend.append_logs(records)
    for trial in held.values():
        del trial[: len(trial)]


def _drain() -> None:
    """Write out what collected storages left (their finalizers only queued it)."""
    while _deferred:
        try:
            backend, held = _deferred.popleft()
        except IndexError:
            return
        try:
            _write_out(backend, held)
        except OSError:
            _deferred.appendleft((backend, held))  # kept for the next round, or exit
            return


def _drain_forever() -> None:
    while True:
        time.sleep(0.05)
        _drain()


def _ensure_drainer() -> None:
    if not _drainer or not _drainer[0].is_alive():
        _drainer[:] = [threading.Thread(target=_drain_forever, daemon=True)]
        _drainer[0].start()


def _flush_live() -> None:
    for storage in list(_live):
        storage.flush()


@atexit.register
def _at_exit() -> None:
    _drain()
    _flush_live()


def _after_fork_in_child() -> None:
    _drainer.clear()
    for storage in list(_live):
        storage._hold_lock = threading.RLock()
        storage._start_timer()


os.register_at_fork(before=_flush_live, after_in_child=_after_fork_in_child)


def _timer(ref: weakref.ref[_WriteBehind], interval: float) -> None:
    while True:
        time.sleep(interval)
        storage = ref()
        if storage is None or storage._closed:
            return
        with contextlib.suppress(OSError):  # kept: the next flush or state change retries
            storage.flush()
        del storage


class _WriteBehind(_Journal):
    def __init__(
        self,
        backend: JournalFileBackend,
        *,
        flush_interval: float | None,
        hooks: bool,
        keep_on_failure: bool = True,
    ) -> None:
        self._held: Held = {}
        self._keep_on_failure = keep_on_failure
        self._hold_lock = threading.RLock()
        self._closed = False
        self._flush_interval = flush_interval
        super().__init__(backend)
        if hooks:
            _live.add(self)
            _ensure_drainer()
            finalizer = weakref.finalize(self, _deferred.append, (backend, self._held))
            finalizer.atexit = False  # at exit, _at_exit writes out every live storage
            multiprocessing.util.register_after_fork(self, _WriteBehind._in_mp_child)
        self._start_timer()

    def _start_timer(self) -> None:
        if self._flush_interval:
            args = (weakref.ref(self), self._flush_interval)
            threading.Thread(target=_timer, args=args, daemon=True).start()

    @staticmethod
    def _in_mp_child(storage: _WriteBehind) -> None:
        multiprocessing.util.Finalize(storage, storage.flush, exitpriority=10)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if template_trial is None:  # a trial this process runs
            with self._hold_lock:
                self._held[trial_id] = []
        return trial_id

    def _write_log(self, op_code: int, extra_fields: dict[str, Any]) -> None:
        record = {"op_code": op_code, "worker_id": self._replay_result.worker_id, **extra_fields}
        trial_id = extra_fields.get("trial_id")
        with self._hold_lock:
            held = self._held.get(trial_id) if trial_id is not None else None
            if held is not None and op_code in HELD:
                self._apply_here(record)
                held.append(record)
                return
            pending: list[dict[str, Any]] = []
            if op_code == JournalOperation.SET_TRIAL_STATE_VALUES and trial_id is not None:
                pending = self._held.pop(trial_id, [])
            self._backend.append_logs([*pending, record])

    def _apply_here(self, record: dict[str, Any]) -> None:
        """Apply a held record to what this process reads (raising as a replay would)."""
        replay = self._replay_result
        read = replay.log_number_read
        try:
            replay.apply_logs([record])
        finally:
            replay.log_number_read = read

    def flush(self) -> None:
        """Write out the held records of every running trial."""
        with self._hold_lock:
            _write_out(self._backend, self._held, self._keep_on_failure)

    def close(self) -> None:
        self.flush()
        self._closed = True


def _factory(
    flush_interval: float | None,
    hooks: bool,
    delay: float,
    caps: Any = JOURNAL_CAPS,
    keep_on_failure: bool = True,
) -> Any:
    def factory(directory: str, **options: Any) -> BaseStorage:
        def make(backend: JournalFileBackend) -> BaseStorage:
            return _WriteBehind(
                backend,
                flush_interval=flush_interval,
                hooks=hooks,
                keep_on_failure=keep_on_failure,
            )

        name = factory.__name__.replace("_", "-")
        return _journal(directory, options, name, caps, make=make, visibility_delay_s=delay)

    factory.visibility_delay_s = delay  # type: ignore[attr-defined]
    return factory


def _named(factory: Any, name: str, doc: str, caps: Any = JOURNAL_CAPS) -> Any:
    factory.__name__ = name
    factory.__doc__ = doc
    return _declare(caps)(factory)


write_behind_reference = _named(
    _factory(flush_interval=0.2, hooks=True, delay=0.5),
    "write_behind_reference",
    "Correct for durable and lifecycle: writes wait for a state change, a timed flush "
    "(declared visibility_delay_s 0.5), close(), garbage collection, exit or fork.",
)

WRITE_THROUGH = dataclasses.replace(JOURNAL_CAPS, write_through=True)
write_behind_claims_write_through = _named(
    _factory(flush_interval=None, hooks=True, delay=0.0, caps=WRITE_THROUGH),
    "write_behind_claims_write_through",
    "Durability: claims write_through, but a running trial's writes wait in memory.",
    WRITE_THROUGH,
)

drops_writes_at_exit = _named(
    _factory(flush_interval=None, hooks=False, delay=0.0),
    "drops_writes_at_exit",
    "Lifecycle: holds a running trial's writes until its state changes or close(), and "
    "drops them at a normal exit, on garbage collection and in a fork child.",
)

late_visibility = _named(
    _factory(flush_interval=None, hooks=True, delay=0.2),
    "late_visibility",
    "Lifecycle: declares visibility_delay_s 0.2, but shows a running trial's writes to other "
    "processes only when its state changes (or the process exits).",
)

swallows_failed_flush = _named(
    _factory(flush_interval=0.2, hooks=True, delay=0.5, keep_on_failure=False),
    "swallows_failed_flush",
    "Lifecycle: a timed flush that fails (full disk) drops the held records without a word; "
    "the trial's state change then returns without them.",
)
