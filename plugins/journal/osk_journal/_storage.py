"""``JournalFileStorage``: Optuna's storage API over a journal file Optuna can read and write."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Container, Sequence
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.storages.journal._storage import JournalOperation as Op
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit import HeartbeatSettings
from optuna_storage_kit.toolkit.distributions import distribution_to_json
from optuna_storage_kit.toolkit.trials import copy_trials
from osk_journal._heartbeat import HeartbeatFile
from osk_journal._journal import Journal
from osk_journal._state import RUNNING

__all__ = ["JournalFileStorage"]

_DIRECTIONS = tuple(StudyDirection)


def _number(value: Any) -> Any:
    """A float subclass (``np.float64``) as a plain float, as it reads back from the file."""
    return float(value) if isinstance(value, float) and type(value) is not float else value


def _now() -> str:
    return datetime.now(tz=timezone.utc).isoformat(timespec="microseconds")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class JournalFileStorage(BaseStorage, HeartbeatSettings):
    """An Optuna storage kept in an append-only journal file, in Optuna's own journal format.

    The file is the one Optuna's ``JournalStorage(JournalFileBackend(path))`` reads and writes:
    each side reads what the other wrote, and both may write it at the same time (with
    ``lock="flock"`` on a local file system, or on NFS with the lock file Optuna uses:
    ``lock="symlink"`` is its default). Heartbeats live in
    ``PATH.heartbeat`` and snapshots in ``PATH.snapshot``, so the journal holds only records
    Optuna understands.

    Reads are served from the replayed state after one ``fstat`` shows whether the file grew;
    only the bytes appended since the last read are read and replayed.

    Thread-safe; process-safe for any number of processes on one machine (and on NFS with a
    lock-file lock). Picklable: the copy reopens the file.

    Args:
        path: The journal file.
        lock: ``"flock"`` (default), ``"symlink"`` or ``"open"``.
        fsync: When to fsync. Every write reaches the OS before the call returns, so under
            any policy it survives a kill of the process; the policy decides what survives a
            power loss. ``"interval"`` (default): a background fsync at most
            ``fsync_interval`` seconds after a write. ``"commit"``: before returning from a
            write that finishes a trial or changes a study. ``"always"``: every write, as
            Optuna's file backend does. ``"never"``: left to the OS.
        fsync_interval: Seconds between background fsyncs under ``"interval"``.
        lock_grace_period: Seconds after which a lock file left by a dead writer is broken.
        snapshot_every: Write ``PATH.snapshot`` after replaying this many records at open.
        heartbeat_interval: Seconds between heartbeats of a running trial; ``None`` disables.
        grace_period: Seconds without a heartbeat before a RUNNING trial is stale
            (default ``2 * heartbeat_interval``).
        heartbeat_stale_trial_callback: Called as ``callback(study, trial)`` for each trial
            failed for a stale heartbeat.
        mode: ``"rw"`` (default) creates the journal if missing; ``"ro"`` opens an existing
            one read-only for inspection: ``O_RDONLY``, nothing created or written (no lock
            file, snapshot or heartbeat file), works in a read-only directory.

    Raises:
        StoreNotFoundError: ``mode="ro"`` and the journal does not exist.
        JournalCorruptError: A complete record in the journal cannot be read.
    """

    def __init__(
        self,
        path: str,
        *,
        lock: str = "flock",
        fsync: str = "interval",
        fsync_interval: float = 1.0,
        lock_grace_period: float | None = 30.0,
        snapshot_every: int = 10_000,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
        mode: str = "rw",
    ) -> None:
        if mode not in ("rw", "ro"):
            raise ValueError(f"mode must be 'rw' or 'ro', got {mode!r}")
        self._settings = {
            "mode": mode,
            "lock": lock,
            "fsync": fsync,
            "fsync_interval": fsync_interval,
            "lock_grace_period": lock_grace_period,
            "snapshot_every": snapshot_every,
        }
        self._journal = Journal(
            path,
            lock=lock,
            fsync=fsync,
            fsync_interval=fsync_interval,
            lock_grace_period=lock_grace_period,
            snapshot_every=snapshot_every,
            inspect=mode == "ro",
        )
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        self._heartbeats = HeartbeatFile(self._journal.path, read_only=mode == "ro")

    @property
    def path(self) -> str:
        return self._journal.path

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self._journal.path,
            "settings": self._settings,
            "heartbeat": (
                self.heartbeat_interval,
                self.grace_period,
                self.heartbeat_stale_trial_callback,
            ),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        interval, grace, callback = state["heartbeat"]
        self.__init__(  # type: ignore[misc]
            state["path"],
            **state["settings"],
            heartbeat_interval=interval,
            grace_period=grace,
            heartbeat_stale_trial_callback=callback,
        )

    def __repr__(self) -> str:
        return f"JournalFileStorage({self._journal.path!r})"

    def close(self) -> None:
        """fsync what is pending and close the files. Idempotent.

        Raises:
            JournalSyncError: That fsync, or an earlier background one, failed.
        """
        self._heartbeats.close()
        self._journal.close()

    def osk_counters(self) -> dict[str, int]:
        """Deterministic counts: ``commits`` (= ``appends``: records appended), ``writes``
        (``write(2)`` calls), ``locks`` (lock acquisitions), ``fsyncs`` (made before a call
        returned), ``reads``, ``repairs``, ``relocations``. One storage call appends one record
        with one write under one lock."""
        return dict(self._journal.counters)

    def snapshot(self) -> str:
        """Write ``PATH.snapshot`` now, so later opens replay only what follows."""
        self._sync()
        return self._journal.snapshot()

    def _write(
        self, op_code: int, fields: dict[str, Any], *, durable: bool = False, plain: bool = False
    ) -> Any:
        """Append one record. ``plain``: its fields are numbers and strings only, so it reads
        back equal to itself and need not be decoded again before it is applied."""
        journal = self._journal
        op = {"op_code": op_code, "worker_id": journal.worker_id, **fields}
        return journal.commit(op, durable=durable, plain=plain)

    def _sync(self) -> Any:
        journal = self._journal
        journal.check_fork()
        journal.sync()
        return journal.state

    # -- studies -------------------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        if study_name is None:
            study_name = DEFAULT_STUDY_NAME_PREFIX + str(uuid.uuid4())
        fields = {"study_name": study_name, "directions": [int(d) for d in directions]}
        return self._write(Op.CREATE_STUDY, fields, durable=True)  # type: ignore[no-any-return]

    def delete_study(self, study_id: int) -> None:
        self._write(Op.DELETE_STUDY, {"study_id": study_id}, durable=True)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        fields = {"study_id": study_id, "user_attr": {key: value}}
        self._write(Op.SET_STUDY_USER_ATTR, fields, durable=True)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        fields = {"study_id": study_id, "system_attr": {key: value}}
        self._write(Op.SET_STUDY_SYSTEM_ATTR, fields, durable=True)

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._journal.mutex:
            state = self._sync()
            if study_name not in state.name_to_id:
                raise KeyError(f"No study named {study_name!r}.")
            return state.name_to_id[study_name]  # type: ignore[no-any-return]

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._journal.mutex:
            return self._sync().study(study_id).name  # type: ignore[no-any-return]

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._journal.mutex:
            return [_DIRECTIONS[d] for d in self._sync().study(study_id).directions]

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with self._journal.mutex:
            return dict(self._sync().study(study_id).user)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with self._journal.mutex:
            return dict(self._sync().study(study_id).system)

    def get_all_studies(self) -> list[FrozenStudy]:
        with self._journal.mutex:
            state = self._sync()
            return [
                FrozenStudy(
                    study_name=s.name,
                    direction=None,
                    user_attrs=copy.deepcopy(s.user),
                    system_attrs=copy.deepcopy(s.system),
                    study_id=sid,
                    directions=[_DIRECTIONS[d] for d in s.directions],
                )
                for sid, s in state.studies.items()
            ]

    # -- trials --------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        fields: dict[str, Any] = {"study_id": study_id, "datetime_start": _now()}
        durable = False
        if template_trial is not None:
            fields.update(_template_fields(template_trial))
            durable = template_trial.state.is_finished()
        plain = template_trial is None
        return self._write(  # type: ignore[no-any-return]
            Op.CREATE_TRIAL, fields, durable=durable, plain=plain
        )

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        fields = {
            "trial_id": trial_id,
            "param_name": param_name,
            "param_value_internal": _number(param_value_internal),
            "distribution": distribution_to_json(distribution),
        }
        self._write(Op.SET_TRIAL_PARAM, fields, plain=True)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._journal.mutex:
            study = self._sync().studies.get(study_id)
            if study is None or not 0 <= trial_number < len(study.trial_ids):
                raise KeyError(f"No trial with {trial_number=} exists in study with {study_id=}.")
            return study.trial_ids[trial_number]  # type: ignore[no-any-return]

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        fields: dict[str, Any] = {
            "trial_id": trial_id,
            "state": int(state),
            "values": None if values is None else [float(v) for v in values],
        }
        if state == TrialState.RUNNING:
            fields["datetime_start"] = _now()
        elif state.is_finished():
            fields["datetime_complete"] = _now()
        return self._write(  # type: ignore[no-any-return]
            Op.SET_TRIAL_STATE_VALUES, fields, durable=state.is_finished(), plain=True
        )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        fields = {
            "trial_id": trial_id,
            "step": step,
            "intermediate_value": _number(intermediate_value),
        }
        self._write(Op.SET_TRIAL_INTERMEDIATE_VALUE, fields, plain=True)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(Op.SET_TRIAL_USER_ATTR, {"trial_id": trial_id, "user_attr": {key: value}})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        fields = {"trial_id": trial_id, "system_attr": {key: value}}
        self._write(Op.SET_TRIAL_SYSTEM_ATTR, fields)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._journal.mutex:
            return self._sync().frozen(trial_id)  # type: ignore[no-any-return]

    def get_trial_number_from_id(self, trial_id: int) -> int:
        with self._journal.mutex:
            return self._sync().trial(trial_id).number  # type: ignore[no-any-return]

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        if trial_state.is_finished():
            with self._journal.mutex:
                number = self._sync().trial(trial_id).number
            raise UpdateFinishedTrialError(
                f"Trial#{number} has already finished and can not be updated."
            )

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        with self._journal.mutex:
            trials = self._sync().frozen_trials(study_id, states)
        return copy_trials(trials) if deepcopy else trials

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        with self._journal.mutex:
            study = self._sync().study(study_id)
            if state is None:
                return len(study.trial_ids)
        return super().get_n_trials(study_id, state)

    # -- heartbeats ----------------------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        self._journal.check_fork()
        self._heartbeats.record(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.stale_after()
        with self._journal.mutex:
            state = self._sync()
            study = state.study(study_id)
            running = [t for t in sorted(study.active) if state.trials[t].state == RUNNING]
        return self._heartbeats.stale(running, grace)


def _template_fields(template: FrozenTrial) -> dict[str, Any]:
    """The fields of a CREATE_TRIAL record for a template trial, as Optuna writes them."""
    fields: dict[str, Any] = {"state": int(template.state)}
    values = template.values
    if values is not None and len(values) > 1:
        fields["value"], fields["values"] = None, list(values)
    else:
        fields["value"], fields["values"] = template.value, None
    fields["datetime_start"] = _iso(template.datetime_start)
    if template.datetime_complete:
        fields["datetime_complete"] = _iso(template.datetime_complete)
    dists = template.distributions
    fields["distributions"] = {k: distribution_to_json(d) for k, d in dists.items()}
    fields["params"] = {k: dists[k].to_internal_repr(v) for k, v in template.params.items()}
    fields["user_attrs"] = template.user_attrs
    fields["system_attrs"] = template.system_attrs
    fields["intermediate_values"] = template.intermediate_values
    return fields
