"""Backends for the kit's own proof: correct ones and several each broken in one way.

Each is a conformance factory ``callable(directory, **options)``; the broken ones wrap a correct
store and change one behaviour. The kit must fail each in the category named in its docstring
and pass the correct ones. The write-behind ones live in ``write_behind_backends``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Container, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk

MemoryStorage = type(osk.open_storage("optuna+memory://").inner)

MEMORY_CAPS = osk.Capabilities(thread_safe=True, heartbeat=True, large_steps=True)
JOURNAL_CAPS = osk.Capabilities(
    thread_safe=True, multi_process=True, persistent=True, durable=True, read_only=True
)
THRESHOLDS = {
    "random_5000.ratio": 4.0,
    "tpe_1000.ratio": 4.0,
    "get_all_trials_10000.ratio": 6.0,
}

_stores: dict[tuple[str, str], BaseStorage] = {}
_stores_lock = threading.Lock()


def _kit(
    inner: BaseStorage,
    name: str,
    caps: osk.Capabilities,
    kind: type = osk.KitStorage,
    options: Mapping[str, Any] | None = None,
    visibility_delay_s: float = 0.0,
) -> osk.KitStorage:
    """Put ``inner`` behind the core's serialization policy, as open_storage does."""
    backend = osk.Backend(
        name=name,
        schemes=("osktest",),
        version="0",
        open=lambda u, o: inner,
        spec_version=osk.SPEC_VERSION,
        capabilities=caps,
        visibility_delay_s=visibility_delay_s,
    )
    url = osk.StorageURL(f"optuna+osktest://{name}")
    return kind(inner, backend=backend, url=url, options=options)  # type: ignore[no-any-return]


def _allowed(options: Mapping[str, Any], caps: osk.Capabilities, name: str) -> None:
    """Refuse options the backend does not take, as open_storage does (loudly)."""
    allowed = {o.name for o in osk.HEARTBEAT_OPTIONS} if caps.heartbeat else set()
    allowed |= {"mode"} if caps.read_only else set()
    for option in options:
        if option not in allowed:
            raise osk.InvalidOptionError(
                f"unknown option {option!r} for backend {name!r}; valid options are: "
                f"{', '.join(sorted(allowed)) or '(none)'}"
            )


def _declare(
    caps: osk.Capabilities, thresholds: dict[str, float] | None = None
) -> Callable[[Any], Any]:
    def mark(factory: Any) -> Any:
        factory.capabilities = caps
        factory.thresholds = thresholds or {}
        factory.name = factory.__name__.replace("_", "-")
        factory.version = "0"
        return factory

    return mark


def _memory(kind: type, directory: str, name: str, **options: Any) -> osk.KitStorage:
    """One in-process store of class ``kind`` per directory (reopening gives the same one)."""
    _allowed(options, MEMORY_CAPS, name)
    with _stores_lock:
        key = (name, str(Path(directory).resolve()))
        if key not in _stores:
            _stores[key] = kind(**options)
        return _kit(_stores[key], name, MEMORY_CAPS)


# -- correct ---------------------------------------------------------------------------------
@_declare(MEMORY_CAPS, THRESHOLDS)
def memory_reference(directory: str, **options: Any) -> BaseStorage:
    """Correct: the reference backend itself, through the factory contract."""
    return _memory(MemoryStorage, directory, "memory-reference", **options)


class _Journal(JournalStorage):
    """Optuna's JournalStorage, fixed: the kit found that (Optuna 5.0) the trials of a deleted
    study stay readable and writable by id. Here they raise KeyError, as in InMemoryStorage."""

    _owner: dict[int, int]

    def _check_alive(self, trial_id: int) -> None:
        owner = self.__dict__.setdefault("_owner", {})
        with self._thread_lock:
            self._sync_with_backend()
            replay = self._replay_result
            if trial_id not in owner:
                for study_id, trial_ids in replay._study_id_to_trial_ids.items():
                    owner.update(dict.fromkeys(trial_ids, study_id))
            if owner.get(trial_id) not in replay._studies:
                raise KeyError(f"no trial with id {trial_id}")

    def close(self) -> None:
        """Nothing to do: every write is appended (and fsynced) before it returns."""


def _guarded(name: str) -> Callable[..., Any]:
    def method(self: _Journal, trial_id: int, *args: Any, **kwargs: Any) -> Any:
        self._check_alive(trial_id)
        return getattr(JournalStorage, name)(self, trial_id, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "get_trial",
    "get_trial_number_from_id",
    "get_trial_param",
    "get_trial_params",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "set_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "check_trial_is_updatable",
):
    setattr(_Journal, _name, _guarded(_name))


class _JournalFile(JournalFileBackend):
    """Optuna's journal file, fixed: the kit found that (Optuna 5.0) an append the full disk
    refused leaves a partial line, which the next append turns into a corrupt record. Here a
    failed append is cut off again before the error is raised."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with get_lock_file(self._lock):
            fd = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)
                    raise
            finally:
                os.close(fd)


class _ReadOnlyJournalFile(JournalFileBackend):
    """The journal file opened for reading only: nothing created, nothing written."""

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise osk.StoreNotFoundError(f"no journal at {path} (opened read-only: mode=ro)")
        self._file_path = path
        self._log_number_offset = {0: 0}

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        raise osk.ReadOnlyStorageError(f"{self._file_path} was opened read-only (mode=ro)")


def _journal(
    directory: str,
    options: Mapping[str, Any],
    name: str,
    caps: osk.Capabilities = JOURNAL_CAPS,
    make: Callable[[JournalFileBackend], BaseStorage] = lambda backend: _Journal(backend),
    file: Callable[[str], JournalFileBackend] = _JournalFile,
    read_only: Callable[[str], JournalFileBackend] = _ReadOnlyJournalFile,
    visibility_delay_s: float = 0.0,
) -> osk.KitStorage:
    """A journal-file store under ``directory``; ``mode=ro`` opens it read-only."""
    _allowed(options, caps, name)
    path = str(Path(directory) / "journal.log")
    mode = options.get("mode", "rw")
    inner = _Journal(read_only(path)) if mode == "ro" else make(file(path))
    resolved = {"mode": mode} if caps.read_only else {}
    return _kit(inner, name, caps, options=resolved, visibility_delay_s=visibility_delay_s)


@_declare(JOURNAL_CAPS)
def journal_reference(directory: str, **options: Any) -> BaseStorage:
    """Correct and durable: Optuna's JournalStorage on a file (fsynced appends)."""
    return _journal(directory, options, "journal-reference")


# -- broken, one bug each --------------------------------------------------------------------
class _StringifiesArrays(osk.KitStorage):
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if isinstance(value, np.ndarray):
            self.inner.set_trial_user_attr(trial_id, key, str(value))  # the bug
            return
        super().set_trial_user_attr(trial_id, key, value)


@_declare(MEMORY_CAPS)
def stringifies_numpy(directory: str, **options: Any) -> BaseStorage:
    """Serialization: stores str(array) for a numpy array instead of refusing it."""
    inner = _memory(MemoryStorage, directory, "stringifies-numpy", **options).inner
    return _kit(inner, "stringifies-numpy", MEMORY_CAPS, _StringifiesArrays)


class _RacyNumbers(MemoryStorage):  # type: ignore[misc, valid-type]
    """Numbers trials from a counter read and written without a lock."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._next: dict[int, int] = {}
        self._numbers: dict[int, int] = {}

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        number = self._next.get(study_id, 0)
        time.sleep(0.002)  # between reading the counter and writing it back: the race
        trial_id = super().create_new_trial(study_id, template_trial)
        self._next[study_id] = number + 1
        self._numbers[trial_id] = number
        return trial_id

    def _renumber(self, trial: FrozenTrial) -> FrozenTrial:
        trial = copy.copy(trial)
        trial.number = self._numbers.get(trial._trial_id, trial.number)
        return trial

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._renumber(super().get_trial(trial_id))

    def get_trial_number_from_id(self, trial_id: int) -> int:
        super().get_trial_number_from_id(trial_id)
        return self._numbers[trial_id]

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return [self._renumber(t) for t in super().get_all_trials(study_id, deepcopy, states)]


@_declare(MEMORY_CAPS)
def reuses_trial_numbers(directory: str, **options: Any) -> BaseStorage:
    """Concurrency: two threads creating trials at once can get the same trial number."""
    return _memory(_RacyNumbers, directory, "reuses-trial-numbers", **options)


class _MutableFinished(MemoryStorage):  # type: ignore[misc, valid-type]
    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        return None  # the bug: finished trials accept updates


@_declare(MEMORY_CAPS)
def mutable_finished_trials(directory: str, **options: Any) -> BaseStorage:
    """API: a finished trial can still be changed."""
    return _memory(_MutableFinished, directory, "mutable-finished-trials", **options)


class _ShallowCopies(MemoryStorage):  # type: ignore[misc, valid-type]
    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return super().get_all_trials(study_id, False, states)  # the bug: ignores deepcopy


@_declare(MEMORY_CAPS)
def ignores_deepcopy(directory: str, **options: Any) -> BaseStorage:
    """API: get_all_trials(deepcopy=True) hands out the store's own objects."""
    return _memory(_ShallowCopies, directory, "ignores-deepcopy", **options)


class _IgnoresStates(MemoryStorage):  # type: ignore[misc, valid-type]
    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states == (TrialState.WAITING,):
            return super().get_all_trials(study_id, deepcopy, states)
        return super().get_all_trials(study_id, deepcopy, None)  # the bug


@_declare(MEMORY_CAPS)
def ignores_state_filter(directory: str, **options: Any) -> BaseStorage:
    """API: get_all_trials ignores its state filter (except the WAITING fast path)."""
    return _memory(_IgnoresStates, directory, "ignores-state-filter", **options)


class _DoublePop(MemoryStorage):  # type: ignore[misc, valid-type]
    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = super().get_all_trials(study_id, deepcopy, states)
        if states == (TrialState.WAITING,) and trials:
            time.sleep(0.01)  # a slow query: other workers see the same WAITING trials
        return trials

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        with self._lock:
            if state == TrialState.RUNNING and self._get_trial(trial_id).state == state:
                return True  # the bug: claims a trial another worker already claimed
            return super().set_trial_state_values(trial_id, state, values)


@_declare(MEMORY_CAPS)
def pops_waiting_twice(directory: str, **options: Any) -> BaseStorage:
    """Concurrency: two workers can both pop the same enqueued trial."""
    return _memory(_DoublePop, directory, "pops-waiting-twice", **options)


class _NoStale(MemoryStorage):  # type: ignore[misc, valid-type]
    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return []  # the bug: heartbeats recorded but never checked


@_declare(MEMORY_CAPS)
def misses_stale_heartbeats(directory: str, **options: Any) -> BaseStorage:
    """API: claims heartbeat, but a trial whose heartbeat stopped is never failed."""
    return _memory(_NoStale, directory, "misses-stale-heartbeats", **options)


class _WrongBest(MemoryStorage):  # type: ignore[misc, valid-type]
    def get_best_trial(self, study_id: int) -> FrozenTrial:
        done = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if len(self.get_study_directions(study_id)) == 1 and done:
            return copy.deepcopy(min(done, key=lambda t: t.values[0]))  # the bug: always min
        return super().get_best_trial(study_id)


@_declare(MEMORY_CAPS)
def wrong_best_trial(directory: str, **options: Any) -> BaseStorage:
    """Model: best trial of a maximizing study is its minimum."""
    return _memory(_WrongBest, directory, "wrong-best-trial", **options)


class _TruncatedSteps(MemoryStorage):  # type: ignore[misc, valid-type]
    """API: keeps only the low 32 bits of a step, as a 32-bit column would, without a word."""

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        super().set_trial_intermediate_value(trial_id, step & 0xFFFFFFFF, value)


@_declare(osk.Capabilities(thread_safe=True, heartbeat=True))
def truncates_large_steps(directory: str, **options: Any) -> BaseStorage:
    """Does not claim large_steps, and truncates them instead of refusing: still a bug."""
    return _memory(_TruncatedSteps, directory, "truncates_large_steps", **options)


class _Slow(MemoryStorage):  # type: ignore[misc, valid-type]
    def set_trial_param(self, *args: Any) -> None:
        time.sleep(0.001)
        super().set_trial_param(*args)

    def get_all_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        time.sleep(0.001)
        return super().get_all_trials(*args, **kwargs)


@_declare(MEMORY_CAPS, THRESHOLDS)
def ten_times_slower(directory: str, **options: Any) -> BaseStorage:
    """Performance: sleeps in every parameter write and trial listing."""
    return _memory(_Slow, directory, "ten-times-slower", **options)


class _BufferedFile(JournalFileBackend):
    """Acknowledges appends from a memory buffer, flushed every 25 records."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._buffer: list[dict[str, Any]] = []

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._buffer.extend(logs)
        if len(self._buffer) >= 25:
            super().append_logs(self._buffer)
            self._buffer = []

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        return [*super().read_logs(0), *self._buffer][log_number_from:]


@_declare(JOURNAL_CAPS)
def loses_writes_on_kill(directory: str, **options: Any) -> BaseStorage:
    """Durability: buffers writes and flushes late, so SIGKILL loses acknowledged ones."""
    return _journal(directory, options, "loses-writes-on-kill", file=_BufferedFile)


class _Chatty(MemoryStorage):  # type: ignore[misc, valid-type]
    """Counts three statements for every write (one would do), and says so."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._statements = 0

    def osk_counters(self) -> dict[str, int]:
        return {"statements": self._statements}

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._statements += 3
        return super().create_new_trial(study_id, template_trial)

    def set_trial_param(self, *args: Any) -> None:
        self._statements += 3
        super().set_trial_param(*args)

    def set_trial_state_values(self, *args: Any, **kwargs: Any) -> bool:
        self._statements += 3
        return super().set_trial_state_values(*args, **kwargs)


@_declare(
    dataclasses.replace(MEMORY_CAPS, counters=True),
    {**THRESHOLDS, "random_5000.statements_per_trial": 5},
)
def too_many_statements(directory: str, **options: Any) -> BaseStorage:
    """Performance: 15 statements per trial against its own limit of 5."""
    return _memory(_Chatty, directory, "too-many-statements", **options)
