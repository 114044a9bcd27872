"""Category 1, API contract: Optuna's StorageTestCase plus the kit's own edge cases."""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections.abc import Callable

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.testing.pytest_storages import StorageTestCase
from optuna.trial import FrozenTrial, TrialState

from osk_conformance._trials import same_value, trial_view

MIN, MAX = StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class TestOptunaStorageTestCase(StorageTestCase):
    """Optuna's own storage test suite, unchanged, on a fresh store of the backend."""

    @pytest.fixture
    def storage(self, osk_fresh_storage: BaseStorage) -> BaseStorage:
        return osk_fresh_storage


def _study(storage: BaseStorage, directions: list[StudyDirection] | None = None) -> int:
    return storage.create_new_study(directions or [MIN], f"osk-{uuid.uuid4().hex}")


@pytest.mark.parametrize(
    "name",
    [
        "ünïcödé 研究 🧪",
        'it\'s "quoted"',
        "'; DROP TABLE studies; --",
        "100% _under_ [brackets] \\back\\slash",
        "tab\there\nnewline",
        "x" * 500,
    ],
    ids=["unicode", "quotes", "sql-injection", "like-wildcards", "control", "long"],
)
def test_study_names_round_trip(osk_storage: BaseStorage, name: str) -> None:
    name = f"{name}-{uuid.uuid4().hex[:8]}"
    study_id = osk_storage.create_new_study([MIN], name)
    assert osk_storage.get_study_name_from_id(study_id) == name
    assert osk_storage.get_study_id_from_name(name) == study_id
    assert name in {s.study_name for s in osk_storage.get_all_studies()}
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        osk_storage.create_new_study([MIN], name)
    with pytest.raises(KeyError):
        osk_storage.get_study_id_from_name(name[:-1] + "%")


NEAR_IDENTICAL = {
    "case": ("Study", "study"),
    "trailing-space": ("study", "study "),
    "leading-space": ("study", " study"),
    "nfc-nfd": ("caf\u00e9", "cafe\u0301"),
    "sharp-s": ("stra\u00dfe", "strasse"),
    "accent": ("resume", "r\u00e9sum\u00e9"),
    "full-width": ("\uff33tudy", "Study"),
    "zero-width": ("study", "stu\u200bdy"),
    "ligature": ("\ufb01le", "file"),
    "dotless-i": ("\u0131d", "id"),
}
"""Pairs of names that differ in a code point but that collations, Unicode normalization,
case folding or space padding can make equal."""


@pytest.mark.parametrize(("a", "b"), NEAR_IDENTICAL.values(), ids=list(NEAR_IDENTICAL))
def test_names_differing_in_any_code_point_are_different(
    osk_storage: BaseStorage, a: str, b: str
) -> None:
    """Study names, attribute keys and param names are compared code point by code point."""
    prefix = f"osk-{uuid.uuid4().hex[:8]}-"
    first = osk_storage.create_new_study([MIN], prefix + a)
    second = osk_storage.create_new_study([MIN], prefix + b)
    assert first != second
    assert osk_storage.get_study_id_from_name(prefix + a) == first
    assert osk_storage.get_study_id_from_name(prefix + b) == second
    assert osk_storage.get_study_name_from_id(second) == prefix + b
    assert {prefix + a, prefix + b} <= {s.study_name for s in osk_storage.get_all_studies()}
    for setter, getter in (
        (osk_storage.set_study_user_attr, osk_storage.get_study_user_attrs),
        (osk_storage.set_study_system_attr, osk_storage.get_study_system_attrs),
    ):
        setter(first, a, 1)
        setter(first, b, 2)
        assert {k: v for k, v in getter(first).items() if k in (a, b)} == {a: 1, b: 2}
    trial_id = osk_storage.create_new_trial(first)
    osk_storage.set_trial_param(trial_id, a, 0.25, FloatDistribution(0, 1))
    osk_storage.set_trial_param(trial_id, b, 0.75, FloatDistribution(0, 1))
    osk_storage.set_trial_user_attr(trial_id, a, 1)
    osk_storage.set_trial_user_attr(trial_id, b, 2)
    osk_storage.set_trial_system_attr(trial_id, a, 3)
    osk_storage.set_trial_system_attr(trial_id, b, 4)
    running = osk_storage.get_trial(trial_id)
    osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    for trial in (running, osk_storage.get_all_trials(first)[0]):
        assert trial.params == {a: 0.25, b: 0.75}
        assert trial.user_attrs == {a: 1, b: 2}
        assert {k: v for k, v in trial.system_attrs.items() if k in (a, b)} == {a: 3, b: 4}


def test_multi_objective_directions(osk_storage: BaseStorage) -> None:
    directions = [MIN, MAX, MAX, MIN]
    study_id = _study(osk_storage, directions)
    assert osk_storage.get_study_directions(study_id) == directions
    trial_id = osk_storage.create_new_trial(study_id)
    osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0, -2.0, 3.5, 0.0])
    assert osk_storage.get_trial(trial_id).values == [1.0, -2.0, 3.5, 0.0]
    with pytest.raises(RuntimeError):
        osk_storage.get_best_trial(study_id)


@pytest.mark.parametrize("step", [0, 1, 2**31 - 1])
def test_intermediate_value_steps(osk_storage: BaseStorage, step: int) -> None:
    trial_id = osk_storage.create_new_trial(_study(osk_storage))
    osk_storage.set_trial_intermediate_value(trial_id, step, 0.5)
    osk_storage.set_trial_intermediate_value(trial_id, step, 0.25)
    assert osk_storage.get_trial(trial_id).intermediate_values == {step: 0.25}


@pytest.mark.parametrize("step", [2**31, 2**53, 2**62])
def test_large_intermediate_value_steps(osk_target, osk_storage: BaseStorage, step: int) -> None:  # type: ignore[no-untyped-def]
    """With ``large_steps`` a 64-bit step round-trips; without, it round-trips or is refused
    with ValueError, leaving the trial as it was, and is never silently changed."""
    trial_id = osk_storage.create_new_trial(_study(osk_storage))
    osk_storage.set_trial_intermediate_value(trial_id, 1, 0.5)
    try:
        osk_storage.set_trial_intermediate_value(trial_id, step, 0.25)
    except ValueError:
        assert not osk_target.has("large_steps"), "claims large_steps but refused the step"
        assert osk_storage.get_trial(trial_id).intermediate_values == {1: 0.5}
        return
    assert osk_storage.get_trial(trial_id).intermediate_values == {1: 0.5, step: 0.25}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308, 5e-324, -1e-300])
def test_special_floats(osk_storage: BaseStorage, value: float) -> None:
    study_id = _study(osk_storage)
    trial_id = osk_storage.create_new_trial(study_id)
    osk_storage.set_trial_intermediate_value(trial_id, 3, value)
    osk_storage.set_trial_user_attr(trial_id, "v", value)
    osk_storage.set_study_user_attr(study_id, "v", value)
    if not math.isnan(value):
        osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value])
    trial = osk_storage.get_trial(trial_id)
    assert same_value(trial.intermediate_values[3], value)
    assert same_value(trial.user_attrs["v"], value)
    assert same_value(osk_storage.get_study_user_attrs(study_id)["v"], value)
    if not math.isnan(value):
        assert trial.values is not None and same_value(trial.values[0], value)


@pytest.mark.parametrize("final", FINISHED, ids=lambda s: s.name)
def test_finished_trial_is_immutable(osk_storage: BaseStorage, final: TrialState) -> None:
    study_id = _study(osk_storage)
    trial_id = osk_storage.create_new_trial(study_id)
    osk_storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    osk_storage.set_trial_user_attr(trial_id, "k", "before")
    values = [1.0] if final == TrialState.COMPLETE else None
    assert osk_storage.set_trial_state_values(trial_id, final, values)
    before = trial_view(osk_storage.get_trial(trial_id))
    attempts: list[Callable[[], object]] = [
        lambda: osk_storage.set_trial_param(trial_id, "y", 0.5, FloatDistribution(0, 1)),
        lambda: osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0]),
        lambda: osk_storage.set_trial_state_values(trial_id, TrialState.RUNNING),
        lambda: osk_storage.set_trial_intermediate_value(trial_id, 1, 2.0),
        lambda: osk_storage.set_trial_user_attr(trial_id, "k", "after"),
        lambda: osk_storage.set_trial_system_attr(trial_id, "k", "after"),
        lambda: osk_storage.check_trial_is_updatable(trial_id, final),
    ]
    for attempt in attempts:
        with pytest.raises(UpdateFinishedTrialError):
            attempt()
    assert trial_view(osk_storage.get_trial(trial_id)) == before
    reopened = [t for t in osk_storage.get_all_trials(study_id) if t._trial_id == trial_id]
    assert [trial_view(t) for t in reopened] == [before]


def test_state_transitions(osk_storage: BaseStorage) -> None:
    study_id = _study(osk_storage)
    trial_id = osk_storage.create_new_trial(study_id)
    trial = osk_storage.get_trial(trial_id)
    assert trial.state == TrialState.RUNNING and trial.datetime_start is not None
    assert trial.datetime_complete is None
    assert osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [3.0])
    trial = osk_storage.get_trial(trial_id)
    assert trial.state == TrialState.COMPLETE and trial.datetime_complete is not None


def _waiting(storage: BaseStorage, study_id: int, x: float) -> int:
    template = FrozenTrial(
        number=-1,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={"x": x},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    return storage.create_new_trial(study_id, template)


def test_waiting_trials_pop_once(osk_storage: BaseStorage) -> None:
    study_id = _study(osk_storage)
    ids = [_waiting(osk_storage, study_id, x / 10) for x in range(3)]
    waiting = osk_storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    assert sorted(t._trial_id for t in waiting) == sorted(ids)
    assert all(t.datetime_start is None for t in waiting)
    assert osk_storage.set_trial_state_values(ids[0], TrialState.RUNNING)
    assert not osk_storage.set_trial_state_values(ids[0], TrialState.RUNNING)
    popped = osk_storage.get_trial(ids[0])
    assert popped.state == TrialState.RUNNING and popped.datetime_start is not None
    assert popped.params == {"x": 0.0}
    study = optuna.load_study(
        study_name=osk_storage.get_study_name_from_id(study_id), storage=osk_storage
    )
    seen: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(trial.suggest_float("x", 0, 1))
        return 0.0

    study.optimize(objective, n_trials=2)
    assert sorted(seen) == [0.1, 0.2]
    assert osk_storage.get_n_trials(study_id, TrialState.WAITING) == 0


def test_get_all_trials_state_filter(osk_storage: BaseStorage) -> None:
    study_id = _study(osk_storage)
    made: dict[TrialState, list[int]] = {s: [] for s in TrialState}
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING):
        for _ in range(2):
            trial_id = osk_storage.create_new_trial(study_id)
            if state != TrialState.RUNNING:
                osk_storage.set_trial_state_values(
                    trial_id, state, [1.0] if state == TrialState.COMPLETE else None
                )
            made[state].append(trial_id)
    made[TrialState.WAITING].append(_waiting(osk_storage, study_id, 0.5))
    for states in [(s,) for s in TrialState] + [tuple(FINISHED), (), None]:
        got = osk_storage.get_all_trials(study_id, states=states)
        wanted = sorted(i for s in (states if states is not None else TrialState) for i in made[s])
        assert sorted(t._trial_id for t in got) == wanted, states
        assert [t.number for t in got] == sorted(t.number for t in got)
        count = osk_storage.get_n_trials(study_id, states) if states is not None else None
        assert count in (None, len(wanted))


def test_get_all_trials_deepcopy_contract(osk_storage: BaseStorage) -> None:
    study_id = _study(osk_storage)
    trial_id = osk_storage.create_new_trial(study_id)
    osk_storage.set_trial_user_attr(trial_id, "nested", {"a": [1, 2]})
    osk_storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    osk_storage.set_trial_intermediate_value(trial_id, 0, 1.0)
    getters: tuple[Callable[[], FrozenTrial], ...] = (
        lambda: osk_storage.get_all_trials(study_id)[0],
        lambda: osk_storage.get_all_trials(study_id, deepcopy=True)[0],
    )
    for getter in getters:
        trial = getter()
        trial.user_attrs["nested"]["a"].append(3)
        trial.user_attrs["new"] = 1
        trial.params["x"] = 0.9
        trial.intermediate_values[5] = 2.0
        trial.state = TrialState.FAIL
    fresh = osk_storage.get_trial(trial_id)
    assert fresh.user_attrs == {"nested": {"a": [1, 2]}}
    assert fresh.params == {"x": 0.5} and fresh.intermediate_values == {0: 1.0}
    assert fresh.state == TrialState.RUNNING
    assert osk_storage.get_all_trials(study_id, deepcopy=False)[0].params == {"x": 0.5}


@pytest.mark.parametrize("direction", [MIN, MAX], ids=["minimize", "maximize"])
def test_best_trial(osk_storage: BaseStorage, direction: StudyDirection) -> None:
    study_id = _study(osk_storage, [direction])
    with pytest.raises(ValueError):
        osk_storage.get_best_trial(study_id)
    ids = {}
    for value in (3.0, -1.0, 7.0, 2.0):
        trial_id = osk_storage.create_new_trial(study_id)
        osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value])
        ids[value] = trial_id
    osk_storage.create_new_trial(study_id)
    pruned = osk_storage.create_new_trial(study_id)
    osk_storage.set_trial_state_values(pruned, TrialState.PRUNED)
    best = osk_storage.get_best_trial(study_id)
    expected = -1.0 if direction == MIN else 7.0
    assert best._trial_id == ids[expected] and best.value == expected


def test_delete_study_removes_everything(osk_storage: BaseStorage) -> None:
    keep = _study(osk_storage)
    kept_trial = osk_storage.create_new_trial(keep)
    doomed = _study(osk_storage)
    name = osk_storage.get_study_name_from_id(doomed)
    osk_storage.set_study_user_attr(doomed, "a", 1)
    trial_ids = []
    for _ in range(3):
        trial_id = osk_storage.create_new_trial(doomed)
        osk_storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        osk_storage.set_trial_user_attr(trial_id, "a", 1)
        trial_ids.append(trial_id)
    osk_storage.delete_study(doomed)
    assert name not in {s.study_name for s in osk_storage.get_all_studies()}
    for call in (
        lambda: osk_storage.get_study_id_from_name(name),
        lambda: osk_storage.get_study_name_from_id(doomed),
        lambda: osk_storage.get_all_trials(doomed),
        lambda: osk_storage.delete_study(doomed),
    ):
        with pytest.raises(KeyError):
            call()
    for trial_id in trial_ids:
        with pytest.raises(KeyError):
            osk_storage.get_trial(trial_id)
    new = osk_storage.create_new_study([MIN], name)
    assert osk_storage.get_all_trials(new) == []
    assert osk_storage.get_study_user_attrs(new) == {}
    assert osk_storage.get_trial(kept_trial).number == 0


def test_heartbeat_api(osk_target, osk_open) -> None:  # type: ignore[no-untyped-def]
    if not osk_target.has("heartbeat"):
        storage = osk_open()
        assert optuna.storages._heartbeat.is_heartbeat_enabled(storage) is False
        return
    calls: list[int] = []
    storage = osk_open(
        heartbeat_interval=1,
        grace_period=2,  # a fresh heartbeat stays fresh for 2 s, even on a loaded machine
        heartbeat_stale_trial_callback=lambda study, trial: calls.append(trial.number),
    )
    assert storage.get_heartbeat_interval() == 1
    assert storage.get_heartbeat_stale_trial_callback() is not None
    study = optuna.create_study(storage=storage, study_name=f"osk-{uuid.uuid4().hex}")
    stale = study.ask()
    fresh = study.ask()
    silent = study.ask()
    storage.record_heartbeat(stale._trial_id)
    time.sleep(2.5)
    storage.record_heartbeat(fresh._trial_id)
    optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states == {
        stale.number: TrialState.FAIL,
        fresh.number: TrialState.RUNNING,
        silent.number: TrialState.RUNNING,
    }
    assert calls == [stale.number]
    optuna.storages.fail_stale_trials(study)
    assert calls == [stale.number]


def test_storage_copies_are_independent(osk_storage: BaseStorage) -> None:
    study_id = _study(osk_storage)
    trial_id = osk_storage.create_new_trial(study_id)
    snapshot = copy.deepcopy(osk_storage.get_trial(trial_id))
    osk_storage.set_trial_user_attr(trial_id, "later", 1)
    assert snapshot.user_attrs == {}


def test_an_enqueued_trial_read_before_it_is_popped_is_listed_once(
    osk_storage: BaseStorage,
) -> None:
    """A WAITING trial a process has read, then popped, is one RUNNING trial to that process
    (osk-postgres once kept the WAITING record it had read beside the popped one), and one
    WAITING trial again once given back."""
    study = optuna.create_study(storage=osk_storage, study_name=f"osk-{uuid.uuid4().hex}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    study.enqueue_trial({"x": 0.5})
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.WAITING]
    popped = study.ask()
    assert popped.number == 1 and popped.suggest_float("x", 0, 1) == 0.5
    study.ask()
    trials = study.get_trials(deepcopy=False)
    assert [(t.number, t.state) for t in trials] == [
        (0, TrialState.COMPLETE),
        (1, TrialState.RUNNING),
        (2, TrialState.RUNNING),
    ]
    assert osk_storage.get_n_trials(study._study_id) == 3
    # Given back (RUNNING -> WAITING): listed once, WAITING (osk-postgres once lost it from its
    # list: it was no longer its own, nor read again).
    assert osk_storage.set_trial_state_values(popped._trial_id, TrialState.WAITING)
    trials = study.get_trials(deepcopy=False)
    assert [(t.number, t.state) for t in trials] == [
        (0, TrialState.COMPLETE),
        (1, TrialState.WAITING),
        (2, TrialState.RUNNING),
    ]
