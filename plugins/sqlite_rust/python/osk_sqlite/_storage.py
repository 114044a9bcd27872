"""``SqliteStorage``: Optuna's BaseStorage on the Rust core, in Optuna's RDB format."""

from __future__ import annotations

import atexit
import copy
import functools
import json
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit import HeartbeatSettings
from optuna_storage_kit.toolkit import lifecycle
from optuna_storage_kit.toolkit.distributions import distribution_to_json
from optuna_storage_kit.toolkit.trials import copy_trials, gc_paused, new_trial, replaced
from osk_sqlite import _schema
from osk_sqlite._convert import now, to_db_time, trial_from_row
from osk_sqlite._errors import SchemaMismatchError, StoreClosedError
from osk_sqlite._native import NativeStore
from osk_sqlite._view import StudyView

__all__ = ["SqliteStorage"]

_logger = logging.getLogger("osk_sqlite")
_RUNNING = TrialState.RUNNING
_ONLY_WAITING = (TrialState.WAITING,)
_ONLY_COMPLETE = (TrialState.COMPLETE,)
_WRITERS: weakref.WeakSet[SqliteStorage] = weakref.WeakSet()
"""Open writable storages of this process, checkpointed at exit."""


def _first_value(trial: FrozenTrial) -> float:
    return float(trial.values[0])


def _flush_every(native: NativeStore, interval: float, stop: threading.Event) -> None:
    """Commit the buffered writes of running trials every ``interval`` seconds until ``stop``."""
    while not stop.wait(interval):
        try:
            native.flush()
        except StoreClosedError:
            return
        except Exception as error:  # the next state change or flush retries
            _logger.warning("could not flush running trials' writes (will retry): %s", error)


def _collected(native: NativeStore, pid: int, stop: threading.Event) -> None:
    """Finalizer of a garbage-collected storage: hand its last flush and close to the
    lifecycle thread (a finalizer may run inside any call, holding any lock: it must not
    block or lock). A storage inherited through fork leaves the parent's connection alone."""
    if os.getpid() == pid:
        lifecycle.defer(functools.partial(_flush_and_close, native, stop))


def _flush_and_close(native: NativeStore, stop: threading.Event) -> None:
    stop.set()
    try:
        native.flush()
    finally:
        native.close()


def _checkpoint_at_exit() -> None:
    """At interpreter exit: write out every buffer, then checkpoint each file once, so the
    ``.db`` file alone holds the study (its ``-wal`` is left empty)."""
    writers = list(_WRITERS)
    for storage in writers:  # no timed flush may be inside the Rust core at finalization
        storage._stop.set()
    lifecycle.flush_all()
    done: set[str] = set()
    for storage in writers:
        where = os.path.realpath(storage.path)
        if where in done:
            continue
        try:
            if storage._checkpoint():
                done.add(where)
        except Exception as error:  # the WAL keeps every commit; SQLite reads it back
            _logger.warning("could not checkpoint %s at exit: %s", storage.path, error)


atexit.register(_checkpoint_at_exit)


class SqliteStorage(BaseStorage, HeartbeatSettings):
    """Optuna storage in one SQLite file, in the schema of Optuna's ``RDBStorage``.

    Files are interchangeable with ``RDBStorage("sqlite:///same.db")`` and optuna-dashboard,
    also while both run. Reads come from an in-process cache refreshed incrementally (finished
    trials are immutable and read once); the writes of a trial this process runs are buffered
    and committed in one transaction with its state change, at its next heartbeat or by the
    timed flush, so other processes see a running trial's params only then. Buffered writes
    are also written out by ``close()``, at interpreter exit, before ``fork`` and when the
    storage is garbage-collected.

    Thread-safe (one lock; the GIL is released during SQLite I/O). Process-safe: open one
    storage per process (a storage inherited through ``fork`` reconnects by itself and never
    touches the parent's connection); trial numbers are unique and a WAITING trial is popped
    by exactly one worker. ``read_only=True`` opens an existing file without changing any byte
    of it or of its directory.
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float = 60.0,
        synchronous: str = "normal",
        write_behind: bool = True,
        flush_interval: float = 1.0,
        read_only: bool = False,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.synchronous = synchronous
        self.write_behind = write_behind
        self.flush_interval = flush_interval
        self.read_only = read_only
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        self._connect()

    # -- connection and lifecycle -----------------------------------------------------------
    def _connect(self) -> None:
        self._lock = threading.RLock()
        self._forked = False
        native = NativeStore(
            self.path, self.timeout, self.synchronous, self.write_behind, self.read_only
        )
        try:
            self.versions = self._check_schema(native)
        except BaseException:
            native.close()
            raise
        self._native = native
        self._studies: dict[int, StudyView] = {}
        self._trials: dict[int, tuple[int, int]] = {}  # trial id -> (study id, number)
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _collected, native, os.getpid(), self._stop)
        self._finalizer.atexit = False  # at exit, lifecycle's flush and our checkpoint run
        lifecycle.track(
            self,
            flush=SqliteStorage._flush_buffers,
            after_fork_in_child=SqliteStorage._after_fork_in_child,
        )
        if not self.read_only:
            _WRITERS.add(self)

    def _check_schema(self, native: NativeStore) -> tuple[int, str, str | None]:
        found = native.versions()
        if found is None:
            if self.read_only:
                raise SchemaMismatchError(
                    f"{self.path} holds no Optuna storage (it has no `version_info` table); "
                    "opened read-only, it is not created: give the path of an Optuna SQLite "
                    "database, or open it without mode=ro to create one"
                )
            t = _schema.template()
            found = native.ensure_schema(
                list(t.ddl), t.schema_version, t.library_version, t.alembic
            )
        _schema.check_versions(found, path=self.path)
        return found

    def _runs_a_trial(self) -> None:
        """This process runs a trial (the core tracks which): start the timed flush with the
        first one."""
        if self._flusher is None and self.write_behind:
            self._start_flusher()

    def _start_flusher(self) -> None:
        thread = threading.Thread(
            target=_flush_every,
            args=(self._native, self.flush_interval, self._stop),
            name=f"osk-sqlite-flush {os.path.basename(self.path)}",
            daemon=True,
        )
        thread.start()
        self._flusher = thread

    def _n(self) -> NativeStore:
        if self._forked:  # inherited through fork: never share the parent's connection
            self._finalizer.detach()  # the parent's connection, closed by the parent
            self._connect()
        return self._native

    def _flush_buffers(self) -> None:
        """Commit the buffered writes of running trials (lifecycle: at exit, before fork)."""
        if not self._closed and not self._forked and not self.read_only:
            self._native.flush()

    def _after_fork_in_child(self) -> None:
        """In a forked child: the next call opens a connection of this process's own."""
        self._forked = True

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database file; False if other connections' reads kept it
        from completing."""
        if self._closed or self._forked or self.read_only:
            return True
        return self._native.checkpoint()

    def __getstate__(self) -> dict[str, Any]:
        keys = (
            "path",
            "timeout",
            "synchronous",
            "write_behind",
            "flush_interval",
            "read_only",
            "heartbeat_interval",
            "grace_period",
        )
        state = {k: self.__dict__[k] for k in keys}
        state["heartbeat_stale_trial_callback"] = self.heartbeat_stale_trial_callback
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._connect()

    def close(self) -> None:
        """Commit the buffered writes of running trials, then close the connection.

        The process's last connection to the file checkpoints it first, so the ``.db`` file
        alone holds the study. If the buffered writes cannot be committed (a full disk, say),
        the error is raised and the storage stays open, so ``close()`` can be called again.
        """
        if self._closed or self._forked:
            return
        with self._lock:
            if not self.read_only:
                self._native.flush()
            self._closed = True
            self._stop.set()
            self._finalizer.detach()
            lifecycle.untrack(self)
            _WRITERS.discard(self)
            self._native.close()

    def osk_counters(self) -> dict[str, int]:
        """Deterministic counts for the kit: SQL ``statements`` run and ``commits``."""
        statements, commits = self._n().counters()
        return {"statements": statements, "commits": commits}

    def remove_session(self) -> None:
        pass

    # -- studies -----------------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        name = DEFAULT_STUDY_NAME_PREFIX + str(uuid.uuid4()) if study_name is None else study_name
        with self._lock:
            study_id = self._n().create_study(name, [d.name for d in directions])
        _logger.info("A new study created in SQLite with name: %s", name)
        return study_id

    def delete_study(self, study_id: int) -> None:
        with self._lock:
            self._n().delete_study(study_id)
            self._drop_study(study_id)

    def _drop_study(self, study_id: int) -> None:
        view = self._studies.pop(study_id, None)
        if view is not None:
            for trial in view.all():
                self._trials.pop(trial._trial_id, None)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._n().set_study_attr(False, study_id, key, json.dumps(value))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._n().set_study_attr(True, study_id, key, json.dumps(value))

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._lock:
            return self._n().study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._lock:
            return self._n().study_name(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._lock:
            view = self._studies.get(study_id)
            if view is None or view.directions is None:
                directions = [StudyDirection[d] for d in self._n().study_directions(study_id)]
                view = self._study(study_id)
                view.directions = directions
            return list(view.directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with self._lock:
            return {k: json.loads(v) for k, v in self._n().study_attrs(False, study_id)}

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with self._lock:
            return {k: json.loads(v) for k, v in self._n().study_attrs(True, study_id)}

    def get_all_studies(self) -> list[FrozenStudy]:
        with self._lock:
            rows = self._n().all_studies()
        return [
            FrozenStudy(
                study_name=name,
                direction=None,
                directions=[StudyDirection[d] for d in directions],
                user_attrs={k: json.loads(v) for k, v in user},
                system_attrs={k: json.loads(v) for k, v in system},
                study_id=study_id,
            )
            for study_id, name, directions, user, system in rows
        ]

    # -- the in-process view -----------------------------------------------------------------
    def _study(self, study_id: int) -> StudyView:
        """The view of a study, brought up to date with other connections' writes."""
        with gc_paused():  # a large study's first sync builds millions of objects
            try:
                reset, records = self._n().sync(study_id)
            except KeyError:
                self._drop_study(study_id)
                raise
            if reset:
                self._drop_study(study_id)
            view = self._studies.get(study_id)
            if view is None:
                view = self._studies[study_id] = StudyView()
            records.reverse()
            while records:  # each row is freed once built: a large study's peak memory
                trial = trial_from_row(records.pop())
                for name, dist in trial.distributions.items():
                    view.param_dists.setdefault(name, dist)
                view.place(trial)
                self._trials[trial._trial_id] = (study_id, trial.number)
        return view

    def _locate(self, trial_id: int) -> tuple[int, StudyView, FrozenTrial]:
        """Study id, view and current FrozenTrial of a trial (KeyError if there is none).

        Finished trials (immutable) and the trials this process runs (the core knows which)
        come from the cache; any other trial's study is synced first, so its state is current.
        """
        entry = self._trials.get(trial_id)
        if entry is not None:
            study_id, number = entry
            view = self._studies[study_id]
            trial = view.trials[number]
            assert trial is not None
            if trial.state.is_finished() or self._n().owns(trial_id):
                return study_id, view, trial
        else:
            study_id = self._n().trial_study(trial_id)
        view = self._study(study_id)
        entry = self._trials.get(trial_id)
        if entry is None:
            raise KeyError(f"no trial with id {trial_id}")
        trial = view.trials[entry[1]]
        assert trial is not None
        return study_id, view, trial

    def _updatable(self, trial_id: int) -> tuple[int, StudyView, FrozenTrial]:
        study_id, view, trial = self._locate(trial_id)
        if trial.state.is_finished():
            raise UpdateFinishedTrialError(
                f"trial #{trial.number} (id {trial_id}) is already finished "
                f"({trial.state.name}) and cannot be updated"
            )
        return study_id, view, trial

    # -- trials ------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        with self._lock:
            view = self._studies.get(study_id) or self._study(study_id)
            n = self._n()
            if template_trial is None:
                micros, local = now()
                trial_id, number, _ = n.create_trial(study_id, micros)
                trial = new_trial(trial_id, number, local)
                self._runs_a_trial()
            else:
                trial_id, number = self._create_from(study_id, template_trial, view)
                trial = copy.deepcopy(template_trial)
                trial.number = number
                trial._trial_id = trial_id
            if number != len(view.trials):
                view = self._study(study_id)  # other processes created trials meanwhile
            view.place(trial)
            self._trials[trial_id] = (study_id, number)
            return trial_id

    def _create_from(self, study_id: int, t: FrozenTrial, view: StudyView) -> tuple[int, int]:
        params = []
        for name, value in t.params.items():
            dist = t.distributions[name]
            if name in view.param_dists:
                check_distribution_compatibility(view.param_dists[name], dist)
            params.append((name, dist.to_internal_repr(value), distribution_to_json(dist)))
        values = None
        if t.values is not None:
            values = [float(v) for v in t.values]
        result = self._n().create_trial_from(
            study_id,
            t.state.name,
            to_db_time(t.datetime_start),
            to_db_time(t.datetime_complete),
            values,
            params,
            [(int(s), float(v)) for s, v in t.intermediate_values.items()],
            [(k, json.dumps(v)) for k, v in t.user_attrs.items()],
            [(k, json.dumps(v)) for k, v in t.system_attrs.items()],
        )
        for name, dist in t.distributions.items():
            view.param_dists.setdefault(name, dist)
        return result

    def _replace(self, view: StudyView, trial: FrozenTrial) -> None:
        view.place(trial)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        with self._lock:
            _, view, trial = self._updatable(trial_id)
            known = view.param_dists.get(param_name)
            if known is not None:
                check_distribution_compatibility(known, distribution)
            self._n().set_param(
                trial_id, param_name, param_value_internal, distribution_to_json(distribution)
            )
            view.param_dists[param_name] = distribution
            trial = replaced(trial)
            trial.params = {
                **trial.params,
                param_name: distribution.to_external_repr(param_value_internal),
            }
            trial.distributions = {**trial.distributions, param_name: distribution}
            self._replace(view, trial)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._lock:
            trials = self._study(study_id).trials
            trial = trials[trial_number] if 0 <= trial_number < len(trials) else None
            if trial is None:
                raise KeyError(f"no trial number {trial_number} in study id {study_id}")
            return trial._trial_id

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        with self._lock:
            study_id, view, trial = self._updatable(trial_id)
            floats = None if values is None else [float(v) for v in values]
            micros, local = now()
            try:
                changed = self._n().set_state(trial_id, state.name, floats, micros)
            except (UpdateFinishedTrialError, KeyError):
                if trial_id in self._trials:  # finished elsewhere: re-read what other writers did
                    self._n().forget_study(study_id)
                    self._study(study_id)
                raise
            if not changed:
                return False
            trial = replaced(trial)
            trial.state = state
            if floats is not None:
                trial.values = floats
            if state == _RUNNING:
                trial.datetime_start = local
                self._runs_a_trial()
            elif state.is_finished():
                trial.datetime_complete = local
            self._replace(view, trial)
            return True

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        with self._lock:
            _, view, trial = self._updatable(trial_id)
            self._n().set_intermediate(trial_id, step, float(intermediate_value))
            trial = replaced(trial)
            trial.intermediate_values = {**trial.intermediate_values, step: intermediate_value}
            self._replace(view, trial)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(False, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(True, trial_id, key, value)

    def _set_trial_attr(self, system: bool, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            _, view, trial = self._updatable(trial_id)
            self._n().set_trial_attr(system, trial_id, key, json.dumps(value))
            trial = replaced(trial)
            if system:
                trial.system_attrs = {**trial.system_attrs, key: value}
            else:
                trial.user_attrs = {**trial.user_attrs, key: value}
            self._replace(view, trial)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return self._locate(trial_id)[2]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        with self._lock:
            view = self._study(study_id)
            if states == _ONLY_WAITING:  # asked before every trial: answer without a scan
                waiting = [t for n in sorted(view.waiting) if (t := view.trials[n]) is not None]
                return copy_trials(waiting) if deepcopy else waiting
            trials = view.all()
            if states is not None:
                trials = [t for t in trials if t.state in states]
            return copy_trials(trials) if deepcopy else list(trials)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        """The COMPLETE trial with the best first value, as RDBStorage ranks them (its
        ``trial_values`` row of objective 0): a trial given more values than the study has
        directions is ranked by its first, where BaseStorage's default raises RuntimeError."""
        trials = [
            t
            for t in self.get_all_trials(study_id, deepcopy=False, states=_ONLY_COMPLETE)
            if t.values
        ]
        if not trials:
            raise ValueError("No trials are completed yet.")
        directions = self.get_study_directions(study_id)
        if len(directions) > 1:
            raise RuntimeError(
                "Best trial can be obtained only for single-objective optimization."
            )
        pick = max if directions[0] == StudyDirection.MAXIMIZE else min
        return pick(trials, key=_first_value)

    # -- heartbeat ---------------------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        with self._lock:
            self._n().record_heartbeat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.stale_after()
        with self._lock:
            return self._n().stale_trials(study_id, float(grace))
