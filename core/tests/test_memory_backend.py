"""The reference backend: Optuna's own storage test suite, heartbeats, named stores."""

from __future__ import annotations

import pickle
import time

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase
from optuna.trial import TrialState

import optuna_storage_kit as osk


class TestOptunaStorageContract(StorageTestCase):
    """Optuna's 45-test storage suite, run against ``optuna+memory://`` through the kit."""

    @pytest.fixture
    def storage(self) -> BaseStorage:
        return osk.open_storage("optuna+memory://")


def test_fresh_store_per_open() -> None:
    a = osk.open_storage("optuna+memory://")
    a.create_new_study([], "s")
    b = osk.open_storage("optuna+memory://")
    assert b.get_all_studies() == []


def test_named_store_is_shared_within_the_process() -> None:
    a = osk.open_storage("optuna+memory://named-shared")
    study_id = a.create_new_study([], "shared-study")
    b = osk.open_storage("optuna+memory://named-shared")
    assert b.get_study_id_from_name("shared-study") == study_id
    with pytest.raises(osk.InvalidOptionError, match="already open in this process"):
        osk.open_storage("optuna+memory://named-shared", heartbeat_interval=3)


def test_memory_url_with_a_path_is_refused() -> None:
    with pytest.raises(osk.InvalidURLError, match="not a memory URL"):
        osk.open_storage("optuna+memory:///some/file.db")


def test_pickle_round_trip() -> None:
    storage = osk.open_storage("optuna+memory://")
    study_id = storage.create_new_study([], "p")
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.get_study_name_from_id(study_id) == "p"
    assert repr(clone) == "<KitStorage memory 'optuna+memory://'>"


def test_heartbeat_disabled_by_default() -> None:
    storage = osk.open_storage("optuna+memory://")
    assert storage.get_heartbeat_interval() is None
    assert not optuna.storages._heartbeat.is_heartbeat_enabled(storage)


def test_stale_trials_are_failed_and_the_callback_runs() -> None:
    failed: list[int] = []
    storage = osk.open_storage(
        "optuna+memory://",
        heartbeat_interval=1,
        grace_period=2,  # a fresh heartbeat stays fresh for 2 s, even on a loaded machine
        heartbeat_stale_trial_callback=lambda study, trial: failed.append(trial.number),
    )
    study = optuna.create_study(storage=storage)
    stale = storage.create_new_trial(study._study_id)
    storage.record_heartbeat(stale)
    never_beat = storage.create_new_trial(study._study_id)  # never stale, as in RDBStorage
    time.sleep(2.5)
    fresh = storage.create_new_trial(study._study_id)
    storage.record_heartbeat(fresh)
    assert storage._get_stale_trial_ids(study._study_id) == [stale]

    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)
    assert failed == [0]
    states = {t._trial_id: t.state for t in study.get_trials(deepcopy=False)}
    assert states == {
        stale: TrialState.FAIL,
        never_beat: TrialState.RUNNING,
        fresh: TrialState.RUNNING,
    }


def test_optimize_with_heartbeat_records_and_finishes() -> None:
    storage = osk.open_storage("optuna+memory://", heartbeat_interval=60)
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert set(storage.inner._heartbeats) == {t._trial_id for t in study.trials}  # type: ignore[attr-defined]


def test_extras_are_forwarded_but_private_names_are_not() -> None:
    storage = osk.open_storage("optuna+memory://")
    assert storage.get_heartbeat_interval() is None
    assert storage.heartbeat_interval is None  # forwarded to the backend's storage
    with pytest.raises(AttributeError):
        storage.__no_such_dunder__  # noqa: B018
