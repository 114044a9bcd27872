"""The toolkit's trial records: finished states, fresh trials and the three copies."""

from __future__ import annotations

import copy
import datetime
from unittest.mock import patch

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit import trials

START = datetime.datetime(2026, 12, 2, 5, 30, 0, 123456)


def full_trial(trial_id: int = 7) -> FrozenTrial:
    return FrozenTrial(
        number=3,
        state=TrialState.COMPLETE,
        value=None,
        values=[1.5, -2.0],
        datetime_start=START,
        datetime_complete=START + datetime.timedelta(seconds=1),
        params={"x": 0.25, "c": "b"},
        distributions={"x": FloatDistribution(0, 1), "c": CategoricalDistribution(["a", "b"])},
        user_attrs={"n": 1, "nested": {"list": [1, [2]]}},
        system_attrs={"alias": [[0]], "s": "t"},
        intermediate_values={0: 0.5, 1: 0.75},
        trial_id=trial_id,
    )


def test_finished_states_are_optunas() -> None:
    assert {s for s in TrialState if s.is_finished()} == trials.FINISHED
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} == trials.FINISHED
    assert {"COMPLETE", "PRUNED", "FAIL"} == trials.FINISHED_NAMES
    assert {TrialState(v) for v in trials.FINISHED_VALUES} == trials.FINISHED


@pytest.mark.parametrize("state", [TrialState.RUNNING, TrialState.WAITING])
def test_new_trial_is_an_empty_valid_record(state: TrialState) -> None:
    start = None if state == TrialState.WAITING else START
    trial = trials.new_trial(11, 4, start, state)
    trial._validate()
    assert (trial._trial_id, trial.number, trial.state) == (11, 4, state)
    assert trial.datetime_start == start and trial.datetime_complete is None
    assert trial.values is None and trial.params == {} and trial.distributions == {}
    assert trial.user_attrs == {} and trial.system_attrs == {}
    assert trial.intermediate_values == {}


def test_new_trial_runs_by_default() -> None:
    assert trials.new_trial(1, 0, START).state == TrialState.RUNNING


def test_replaced_equals_copy_copy_and_shares_the_containers() -> None:
    trial = full_trial()
    new = trials.replaced(trial)
    assert new == trial and new is not trial
    assert new.__dict__ == copy.copy(trial).__dict__
    assert new.user_attrs is trial.user_attrs  # shared: a writer replaces, never mutates
    new.user_attrs = {**new.user_attrs, "k": 2}
    new.state = TrialState.FAIL
    assert "k" not in trial.user_attrs and trial.state == TrialState.COMPLETE


def test_snapshot_does_not_see_later_replacements_or_additions() -> None:
    trial = full_trial()
    snap = trials.snapshot(trial)
    assert snap == trial
    trial.params["y"] = 1.0
    trial.distributions["y"] = FloatDistribution(0, 2)
    trial.user_attrs["k"] = 1
    trial.system_attrs["s"] = "changed"
    trial.intermediate_values[5] = 1.0
    assert trial.values is not None
    trial.values[0] = 9.0
    assert snap == full_trial()


def test_copy_trials_equal_and_share_nothing_mutable() -> None:
    originals = [full_trial(1), full_trial(2)]
    copies = trials.copy_trials(originals)
    assert copies == originals == [full_trial(1), full_trial(2)]
    for trial in copies:
        trial.params["x"] = 99.0
        trial.distributions.clear()
        trial.user_attrs["nested"]["list"][1].append(3)
        trial.system_attrs["alias"][0].append(9)
        trial.intermediate_values[7] = 1.0
        assert trial.values is not None
        trial.values.append(0.0)
    assert originals == [full_trial(1), full_trial(2)]


def test_copy_trials_keeps_aliasing_as_deepcopy_does() -> None:
    shared = [1, 2]
    trial = full_trial()
    trial.user_attrs["a"] = shared
    trial.system_attrs["b"] = shared
    (new,) = trials.copy_trials([trial])
    deep = copy.deepcopy(trial)
    assert (new.user_attrs["a"] is new.system_attrs["b"]) == (
        deep.user_attrs["a"] is deep.system_attrs["b"]
    )
    assert new.user_attrs["a"] is not shared


def test_copies_call_copy_deepcopy_once_per_call() -> None:
    # Optuna's test_get_trials checks that get_trials(deepcopy=True) calls copy.deepcopy.
    with patch("copy.deepcopy", wraps=copy.deepcopy) as deepcopy:
        trials.copy_trials([full_trial(i) for i in range(5)])
        assert deepcopy.call_count == 1
        trials.copy_trial(trials.new_trial(1, 0, START))
        assert deepcopy.call_count == 2


def test_copy_trial_is_copy_trials_of_one() -> None:
    trial = full_trial()
    new = trials.copy_trial(trial)
    assert new == trial
    assert new.user_attrs["nested"] is not trial.user_attrs["nested"]


def test_gc_paused_pauses_the_collector_and_restores_it() -> None:
    import gc

    from optuna_storage_kit.toolkit.trials import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
