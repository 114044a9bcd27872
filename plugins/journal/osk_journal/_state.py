"""The replayed state of a journal, with Optuna's replay rules, built for speed.

Replaying a record never raises for a record another worker wrote that does not apply (a trial
that has finished, a study that is gone): it is skipped, as Optuna's replay skips it. Records this
process is about to write are applied with ``mine=True`` first; then an inapplicable one raises the
error Optuna's ``BaseStorage`` promises (``KeyError``, ``DuplicatedStudyError``,
``UpdateFinishedTrialError``, ``ValueError``) *before* anything changes or is written.

Trials are kept as small mutable records; a :class:`~optuna.trial.FrozenTrial` is built only when
asked for and cached until the trial changes, so replay does no datetime or distribution parsing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container
from datetime import datetime, timedelta
from typing import Any

from optuna.distributions import check_distribution_compatibility
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages.journal._storage import JournalOperation as Op
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import json_to_distribution as parse_distribution
from optuna_storage_kit.toolkit.trials import FINISHED_VALUES as FINISHED
from optuna_storage_kit.toolkit.trials import gc_paused, replaced

__all__ = ["JournalState", "StudyRec", "TrialRec"]

NOT_FOUND = "Record does not exist."
RUNNING = TrialState.RUNNING.value
_STATES = tuple(TrialState)
_STATE_VALUES = frozenset(s.value for s in TrialState)


def parse_datetime(text: str | None) -> datetime | None:
    """Turn an ISO time written by Optuna into its naive local time, as Optuna's replay does
    (``fromisoformat(text).astimezone().replace(tzinfo=None)``). Optuna writes UTC with
    microseconds (``2024-01-31T12:34:56.789012+00:00``): that is read as a naive time plus the
    local UTC offset, looked up once per minute (time zones change offset only on whole
    minutes), 2.5x faster than going through an aware datetime."""
    if text is None:
        return None
    if len(text) != 32 or not text.endswith("+00:00"):
        return datetime.fromisoformat(text).astimezone().replace(tzinfo=None)
    return datetime.fromisoformat(text[:26]) + _local_offset(text[:16])


@functools.lru_cache(maxsize=8192)
def _local_offset(minute: str) -> timedelta:
    offset = datetime.fromisoformat(minute + ":00+00:00").astimezone().utcoffset()
    assert offset is not None
    return offset


class StudyRec:
    """One study. ``first_param`` maps a parameter name to (trial number, distribution JSON) of
    the lowest-numbered trial that has it: the distribution Optuna checks new ones against."""

    __slots__ = ("active", "directions", "first_param", "name", "system", "trial_ids", "user")

    def __init__(self, name: str, directions: list[int]) -> None:
        self.name = name
        self.directions = directions
        self.user: dict[str, Any] = {}
        self.system: dict[str, Any] = {}
        self.trial_ids: list[int] = []
        self.active: dict[int, None] = {}  # RUNNING or WAITING trial ids
        self.first_param: dict[str, tuple[int, str]] = {}


class TrialRec:
    """One trial, with its parameters in internal representation and distributions as JSON."""

    __slots__ = (
        "complete",
        "dists",
        "frozen",
        "inter",
        "number",
        "params",
        "start",
        "state",
        "study_id",
        "system",
        "user",
        "values",
    )

    def __init__(self, study_id: int, number: int, state: int) -> None:
        self.study_id = study_id
        self.number = number
        self.state = state
        self.params: dict[str, float] = {}
        self.dists: dict[str, str] = {}
        self.user: dict[str, Any] = {}
        self.system: dict[str, Any] = {}
        self.values: list[float] | None = None
        self.inter: dict[int, float] = {}
        self.start: str | None = None
        self.complete: str | None = None
        self.frozen: FrozenTrial | None = None


class JournalState:
    """Studies and trials as replayed from the first ``n_ops`` records (``offset`` bytes)."""

    def __init__(self) -> None:
        self.offset = 0
        self.n_ops = 0
        self.next_study_id = 0
        self.studies: dict[int, StudyRec] = {}  # live studies
        self.all_studies: dict[int, StudyRec] = {}  # including deleted ones
        self.name_to_id: dict[str, int] = {}
        self.trials: list[TrialRec] = []
        # No NaN or infinite float anywhere (then orjson writes snapshots, as json would).
        self.finite = True
        self._texts: dict[str, str] = {}
        self._apply: dict[int, Callable[[dict[str, Any], bool], Any]] = {
            Op.CREATE_STUDY: self._create_study,
            Op.DELETE_STUDY: self._delete_study,
            Op.SET_STUDY_USER_ATTR: self._set_study_user_attr,
            Op.SET_STUDY_SYSTEM_ATTR: self._set_study_system_attr,
            Op.CREATE_TRIAL: self._create_trial,
            Op.SET_TRIAL_PARAM: self._set_trial_param,
            Op.SET_TRIAL_STATE_VALUES: self._set_trial_state_values,
            Op.SET_TRIAL_INTERMEDIATE_VALUE: self._set_trial_intermediate_value,
            Op.SET_TRIAL_USER_ATTR: self._set_trial_user_attr,
            Op.SET_TRIAL_SYSTEM_ATTR: self._set_trial_system_attr,
            Op.DISCARD_TRIALS: _ignore,  # written only by Rustuna; Optuna ignores it too
        }

    # -- applying records ----------------------------------------------------------------------
    def apply(self, op: dict[str, Any], mine: bool = False) -> Any:
        """Apply one record; with ``mine``, raise instead of skipping and return the result."""
        try:
            handler = self._apply[op["op_code"]]
        except KeyError:
            raise ValueError(f"unknown op_code {op.get('op_code')!r}") from None
        return handler(op, mine)

    def apply_many(self, ops: list[dict[str, Any]]) -> tuple[int, str | None]:
        """Apply records of other workers.

        Returns:
            How many were applied, and ``None`` or why the next one could not be: the caller
            reports it as corruption.
        """
        handlers = self._apply
        for index, op in enumerate(ops):
            try:
                handlers[op["op_code"]](op, False)
            except Exception as err:
                if type(op) is not dict:
                    return index, "not a journal record (not a JSON object)"
                if op.get("op_code") not in handlers:
                    return index, (
                        f"unknown op_code {op.get('op_code')!r} (written by a newer version of "
                        "Optuna or by another program?)"
                    )
                return index, f"not a valid journal record ({type(err).__name__}: {err})"
        return len(ops), None

    def _study(self, study_id: int, mine: bool) -> StudyRec | None:
        study = self.studies.get(study_id)
        if study is None and mine:
            raise KeyError(NOT_FOUND)
        return study

    def _updatable(self, trial_id: int, mine: bool) -> TrialRec | None:
        if type(trial_id) is not int or not 0 <= trial_id < len(self.trials):
            if mine:
                raise KeyError(NOT_FOUND)
            return None
        trial = self.trials[trial_id]
        if trial.study_id not in self.studies:  # its study was deleted, and the trial with it
            if mine:
                raise KeyError(NOT_FOUND)
            return None
        if trial.state in FINISHED:
            if mine:
                raise UpdateFinishedTrialError(
                    f"Trial#{trial.number} has already finished and can not be updated."
                )
            return None
        return trial

    def _create_study(self, op: dict[str, Any], mine: bool) -> int | None:
        name = op["study_name"]
        directions = [int(d) for d in op["directions"]]
        if name in self.name_to_id:
            if mine:
                raise DuplicatedStudyError(
                    f"Another study with name '{name}' already exists. Please specify a "
                    "different name, or reuse the existing one by setting `load_if_exists` "
                    "(for Python API) or `--skip-if-exists` flag (for CLI)."
                )
            return None
        study_id = self.next_study_id
        self.next_study_id += 1
        study = StudyRec(name, directions)
        self.studies[study_id] = self.all_studies[study_id] = study
        self.name_to_id[name] = study_id
        return study_id

    def _delete_study(self, op: dict[str, Any], mine: bool) -> None:
        study = self._study(op["study_id"], mine)
        if study is not None:
            del self.studies[op["study_id"]]
            del self.name_to_id[study.name]

    def _set_study_user_attr(self, op: dict[str, Any], mine: bool) -> None:
        study = self._study(op["study_id"], mine)
        if study is not None:
            study.user.update(op["user_attr"])

    def _set_study_system_attr(self, op: dict[str, Any], mine: bool) -> None:
        study = self._study(op["study_id"], mine)
        if study is not None:
            study.system.update(op["system_attr"])

    def _create_trial(self, op: dict[str, Any], mine: bool) -> int | None:
        study_id = op["study_id"]
        study = self._study(study_id, mine)
        if study is None:
            return None
        trial_id = len(self.trials)
        if len(op) == 4:  # op_code, worker_id, study_id, datetime_start: a plain new trial
            trial = TrialRec(study_id, len(study.trial_ids), RUNNING)
            trial.start = op["datetime_start"]
        else:
            trial = self._trial_from_template(op, study)
        self.trials.append(trial)
        study.trial_ids.append(trial_id)
        if trial.state not in FINISHED:
            study.active[trial_id] = None
        return trial_id

    def _trial_from_template(self, op: dict[str, Any], study: StudyRec) -> TrialRec:
        state = op.get("state", RUNNING)
        if state not in _STATE_VALUES:
            raise ValueError(f"{state!r} is not a valid TrialState")
        trial = TrialRec(op["study_id"], len(study.trial_ids), state)
        trial.start = op["datetime_start"]
        trial.complete = op.get("datetime_complete")
        if "distributions" in op:
            trial.dists = op["distributions"]
        if "params" in op:
            trial.params = op["params"]
            for name in trial.params:
                self._note_param(study, trial, name, trial.dists[name])
        trial.user = op.get("user_attrs") or {}
        trial.system = op.get("system_attrs") or {}
        value, values = op.get("value"), op.get("values")
        if value is not None and values is not None:
            raise ValueError("Specify only one of `value` and `values`.")
        trial.values = [value] if value is not None else values
        trial.inter = {int(k): v for k, v in (op.get("intermediate_values") or {}).items()}
        return trial

    @staticmethod
    def _note_param(study: StudyRec, trial: TrialRec, name: str, dist: str) -> None:
        first = study.first_param.get(name)
        if first is None or trial.number <= first[0]:
            study.first_param[name] = (trial.number, dist)

    def _set_trial_param(self, op: dict[str, Any], mine: bool) -> None:
        trial = self._updatable(op["trial_id"], mine)
        if trial is None:
            return
        name, text = op["param_name"], op["distribution"]
        text = self._texts.setdefault(text, text)  # one string per distinct distribution
        study = self.all_studies[trial.study_id]
        first = study.first_param.get(name)
        if first is not None and first[1] != text:
            try:
                check_distribution_compatibility(
                    parse_distribution(first[1]), parse_distribution(text)
                )
            except ValueError:
                if mine:
                    raise
                return
        value = op["param_value_internal"]
        if mine:
            parse_distribution(text).to_external_repr(value)  # fail before writing
        trial.params[name] = value
        trial.dists[name] = text
        self._note_param(study, trial, name, text)
        if trial.frozen is not None:
            frozen = trial.frozen = replaced(trial.frozen)
            dist = parse_distribution(text)
            frozen._params = {**frozen._params, name: dist.to_external_repr(value)}
            frozen._distributions = {**frozen._distributions, name: dist}

    def _set_trial_state_values(self, op: dict[str, Any], mine: bool) -> bool:
        trial = self._updatable(op["trial_id"], mine)
        if trial is None:
            return False
        state = op["state"]
        if state not in _STATE_VALUES:
            raise ValueError(f"{state!r} is not a valid TrialState")
        if state == RUNNING:
            if trial.state == RUNNING:
                return False  # another worker popped this WAITING trial first
            trial.start = op["datetime_start"]
        elif state in FINISHED:
            trial.complete = op["datetime_complete"]
            self.all_studies[trial.study_id].active.pop(op["trial_id"], None)
        trial.state = state
        if op["values"] is not None:
            trial.values = list(op["values"])
        if trial.frozen is not None:
            frozen = trial.frozen = replaced(trial.frozen)
            frozen.state = _STATES[state]
            frozen.datetime_start = parse_datetime(trial.start)
            frozen.datetime_complete = parse_datetime(trial.complete)
            if op["values"] is not None:
                frozen.values = trial.values  # FrozenTrial copies it
        return True

    def _set_trial_intermediate_value(self, op: dict[str, Any], mine: bool) -> None:
        trial = self._updatable(op["trial_id"], mine)
        if trial is not None:
            step = int(op["step"])
            trial.inter[step] = op["intermediate_value"]
            if trial.frozen is not None:
                frozen = trial.frozen = replaced(trial.frozen)
                frozen.intermediate_values = {
                    **frozen.intermediate_values,
                    step: op["intermediate_value"],
                }

    def _set_trial_user_attr(self, op: dict[str, Any], mine: bool) -> None:
        trial = self._updatable(op["trial_id"], mine)
        if trial is not None:
            trial.user.update(op["user_attr"])
            if trial.frozen is not None:
                frozen = trial.frozen = replaced(trial.frozen)
                frozen._user_attrs = {**frozen._user_attrs, **op["user_attr"]}

    def _set_trial_system_attr(self, op: dict[str, Any], mine: bool) -> None:
        trial = self._updatable(op["trial_id"], mine)
        if trial is not None:
            trial.system.update(op["system_attr"])
            if trial.frozen is not None:
                frozen = trial.frozen = replaced(trial.frozen)
                frozen._system_attrs = {**frozen._system_attrs, **op["system_attr"]}

    # -- reading -------------------------------------------------------------------------------
    def study(self, study_id: int) -> StudyRec:
        study = self.studies.get(study_id)
        if study is None:
            raise KeyError(NOT_FOUND)
        return study

    def trial(self, trial_id: int) -> TrialRec:
        """Return a trial; those of deleted studies are gone, as in Optuna's other storages
        (they still hold their ids, which follow from the order of the records)."""
        if type(trial_id) is not int or not 0 <= trial_id < len(self.trials):
            raise KeyError(NOT_FOUND)
        trial = self.trials[trial_id]
        if trial.study_id not in self.studies:
            raise KeyError(NOT_FOUND)
        return trial

    def frozen(self, trial_id: int) -> FrozenTrial:
        """Return the trial as a FrozenTrial; cached until it changes, so never mutate it."""
        trial = self.trial(trial_id)
        frozen = trial.frozen
        if frozen is None:
            frozen = trial.frozen = _build(trial, trial_id)
        return frozen

    def frozen_trials(
        self, study_id: int, states: Container[TrialState] | None
    ) -> list[FrozenTrial]:
        study = self.study(study_id)
        if states is None:
            ids: list[int] = study.trial_ids
        elif not any(_STATES[s] in states for s in FINISHED):
            ids = sorted(study.active)  # only RUNNING/WAITING wanted: skip finished trials
        else:
            ids = study.trial_ids
        if len(ids) > 1000:
            with gc_paused():
                return self._collect(ids, states)
        return self._collect(ids, states)

    def _collect(self, ids: list[int], states: Container[TrialState] | None) -> list[FrozenTrial]:
        trials = self.trials
        result = []
        for trial_id in ids:
            trial = trials[trial_id]
            if states is None or _STATES[trial.state] in states:
                frozen = trial.frozen
                if frozen is None:
                    frozen = trial.frozen = _build(trial, trial_id)
                result.append(frozen)
        return result


def _ignore(op: dict[str, Any], mine: bool) -> None:
    return None


def _build(trial: TrialRec, trial_id: int) -> FrozenTrial:
    dists = {name: parse_distribution(text) for name, text in trial.dists.items()}
    params = {name: dists[name].to_external_repr(v) for name, v in trial.params.items()}
    return FrozenTrial(
        number=trial.number,
        state=_STATES[trial.state],
        value=None,
        values=trial.values,  # FrozenTrial copies it
        datetime_start=parse_datetime(trial.start),
        datetime_complete=parse_datetime(trial.complete),
        params=params,
        distributions=dists,
        user_attrs=dict(trial.user),
        system_attrs=dict(trial.system),
        intermediate_values=dict(trial.inter),
        trial_id=trial_id,
    )
