"""``get_all_trials(deepcopy=True)`` hands out copies made with ``copy.deepcopy`` where values
are mutable (Optuna's ``test_get_trials`` checks the call), ``deepcopy=False`` makes none, and
no copy shares anything mutable with the cache, for finished and running trials; ``get_trial``
shares the cached record, which writes replace instead of changing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from unittest.mock import patch

import optuna
import pytest

import optuna_storage_kit as osk

from .conftest import kit_url


@pytest.fixture
def storage(empty_tables: str) -> Iterator[osk.KitStorage]:
    storage = osk.open_storage(kit_url(empty_tables))
    yield storage
    storage.inner.close()


def test_get_trials_deep_copies_only_when_asked(storage: osk.KitStorage) -> None:
    # Optuna's tests/study_tests/test_study.py::test_get_trials, on this backend.
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_int("x", 1, 5), n_trials=5)
    with patch("copy.deepcopy", wraps=copy.deepcopy) as deepcopy:
        shared = study.get_trials(deepcopy=False)
        assert deepcopy.call_count == 0 and len(shared) == 5
        copied = study.get_trials(deepcopy=True)
        assert deepcopy.call_count > 0 and copied == shared
        count = deepcopy.call_count
        assert study.trials == shared
        assert deepcopy.call_count > count


def test_copies_share_nothing_mutable(storage: osk.KitStorage) -> None:
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    running = study.ask()
    running.suggest_float("x", 0, 1)
    storage.set_trial_user_attr(running._trial_id, "nested", {"list": [1, 2]})
    storage.set_trial_system_attr(running._trial_id, "alias", [[0]])
    for trial in study.get_trials(deepcopy=True):
        trial.params["x"] = 99.0
        trial.distributions.clear()
        trial.user_attrs.setdefault("nested", {"list": []})["list"].append(3)
        trial.system_attrs.setdefault("alias", [[]])[0].append(9)
        trial.intermediate_values[7] = 1.0
    for trial in study.get_trials(deepcopy=True):
        assert trial.params["x"] != 99.0 and trial.distributions
        assert 7 not in trial.intermediate_values
    (first, second) = study.get_trials(deepcopy=True)
    assert "nested" not in first.user_attrs and "alias" not in first.system_attrs
    assert second.user_attrs == {"nested": {"list": [1, 2]}}
    assert second.system_attrs == {"alias": [[0]]}


def test_get_trial_hands_out_a_record_that_later_writes_leave_alone(
    storage: osk.KitStorage,
) -> None:
    """``get_trial`` shares the cached record, as Optuna's own storages do, and the cache
    copies on write: a record handed out does not change with later writes, and changing its
    dicts (Optuna's ``Trial`` updates its own record after each write) changes nothing cached.
    """
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    storage.set_trial_param(trial_id, "x", 0.25, dist)
    first = storage.get_trial(trial_id)
    before = copy.deepcopy(first)
    storage.set_trial_param(trial_id, "y", 0.5, dist)
    storage.set_trial_intermediate_value(trial_id, 1, 1.5)
    storage.set_trial_user_attr(trial_id, "u", 1)
    storage.set_trial_system_attr(trial_id, "s", 2)
    assert first == before
    first.params["x"] = 0.75  # what Trial._suggest does to its cached record
    first.distributions["z"] = dist
    first.intermediate_values[2] = 9.0
    first.user_attrs["u"] = "changed"
    first.system_attrs["t"] = 3
    now = storage.get_trial(trial_id)
    assert now.params == {"x": 0.25, "y": 0.5} and set(now.distributions) == {"x", "y"}
    assert now.intermediate_values == {1: 1.5}
    assert now.user_attrs == {"u": 1} and now.system_attrs == {"s": 2}
    assert storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [1.0])
    assert now.state == optuna.trial.TrialState.RUNNING and now.values is None
    done = storage.get_trial(trial_id)
    assert done.state == optuna.trial.TrialState.COMPLETE and done.values == [1.0]
    assert done.params == {"x": 0.25, "y": 0.5} and done.user_attrs == {"u": 1}
