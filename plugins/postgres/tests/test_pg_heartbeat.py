"""Heartbeats: stale trials of a dead worker are failed, the callback runs, RDBStorage agrees."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

import optuna_storage_kit as osk

from .conftest import kit_url, rdb_url

# Study.ask warns that heartbeats are meant for Study.optimize; these tests drive them by hand.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning"),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]


def test_stale_trial_is_failed_and_retried(empty_tables: str) -> None:
    dead = osk.open_storage(kit_url(empty_tables, heartbeat_interval=1, grace_period=3))
    study = optuna.create_study(study_name="hb", storage=dead)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    beat = time.monotonic()
    dead.record_heartbeat(trial._trial_id)
    dead.inner.close()  # the worker's host dies: no more heartbeats

    seen = []

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append(trial.number)
        RetryHeartbeatStaleTrialCallback()(study, trial)

    live = osk.open_storage(
        kit_url(empty_tables, heartbeat_interval=1),
        grace_period=3,
        heartbeat_stale_trial_callback=callback,
    )
    assert live.get_heartbeat_interval() == 1
    fresh = optuna.load_study(study_name="hb", storage=live)
    fail_stale_trials(fresh)
    if time.monotonic() - beat < 2.5:  # a loaded machine may already be past the grace period
        assert seen == []
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.5)
        fail_stale_trials(fresh)
    assert seen == [0]
    states = [t.state for t in fresh.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    # A second sweep does nothing: the trial is failed once.
    fail_stale_trials(fresh)
    assert seen == [0]
    live.inner.close()


def test_heartbeats_are_shared_with_rdbstorage(empty_tables: str) -> None:
    kit = osk.open_storage(kit_url(empty_tables, heartbeat_interval=1, grace_period=1))
    study = optuna.create_study(study_name="hb2", storage=kit)
    trial = study.ask()
    kit.record_heartbeat(trial._trial_id)
    rdb = optuna.storages.RDBStorage(rdb_url(empty_tables), heartbeat_interval=1, grace_period=1)
    study_id = study._study_id
    assert rdb._get_stale_trial_ids(study_id) == []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not kit._get_stale_trial_ids(study_id):
        time.sleep(0.3)
    assert kit._get_stale_trial_ids(study_id) == [trial._trial_id]
    assert rdb._get_stale_trial_ids(study_id) == [trial._trial_id]
    rdb.record_heartbeat(trial._trial_id)  # RDBStorage's heartbeat refreshes it for us too
    assert kit._get_stale_trial_ids(study_id) == []
    kit.inner.close()
    rdb.engine.dispose()


def test_heartbeat_sends_the_trials_buffered_writes(empty_tables: str) -> None:
    kit = osk.open_storage(kit_url(empty_tables, heartbeat_interval=60))
    study = optuna.create_study(study_name="hb3", storage=kit)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr("epoch", 3)
    other = osk.open_storage(kit_url(empty_tables))
    seen = other.get_trial(trial._trial_id)
    assert (seen.params, seen.user_attrs) == ({}, {})  # buffered (the default)
    kit.record_heartbeat(trial._trial_id)
    seen = other.get_trial(trial._trial_id)
    assert (seen.params, seen.user_attrs) == ({"x": trial.params["x"]}, {"epoch": 3})
    other.inner.close()
    kit.inner.close()


def test_trial_failed_by_another_process_surfaces_at_its_state_write(empty_tables: str) -> None:
    kit = osk.open_storage(kit_url(empty_tables, heartbeat_interval=60))
    study = optuna.create_study(study_name="hb4", storage=kit)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    other = osk.open_storage(kit_url(empty_tables))
    assert other.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # as a stale sweep
    kit.record_heartbeat(trial._trial_id)  # the buffered param cannot go: no error here
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        kit.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [1.0])
    final = other.get_trial(trial._trial_id)
    assert (final.state, final.params, final.values) == (TrialState.FAIL, {}, None)
    other.inner.close()
    kit.inner.close()
