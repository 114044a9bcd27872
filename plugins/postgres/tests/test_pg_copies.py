"""``get_all_trials(deepcopy=True)`` hands out copies made with ``copy.deepcopy`` where values
are mutable (Optuna's ``test_get_trials`` checks the call), ``deepcopy=False`` makes none, and
no copy shares anything mutable with the cache, for finished and running trials."""

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
    # The single-trial read hands out its own copy too.
    got = storage.get_trial(running._trial_id)
    got.user_attrs["nested"]["list"].clear()
    assert storage.get_trial(running._trial_id).user_attrs == {"nested": {"list": [1, 2]}}
