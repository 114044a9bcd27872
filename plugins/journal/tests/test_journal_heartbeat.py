"""Heartbeats with RDBStorage's semantics, kept beside the journal where Optuna does not look."""

from __future__ import annotations

import os
import signal
import struct
import time
import types

import optuna
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk


def _age_heartbeat(journal_path: str, trial_id: int, seconds: float) -> None:
    """Make the recorded heartbeat of ``trial_id`` ``seconds`` old (documented file format)."""
    with open(journal_path + ".heartbeat", "r+b") as f:
        f.seek(8 * trial_id)
        f.write(struct.pack("<d", time.time() - seconds))


def test_stale_trials_follow_rdb_semantics(journal_path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(journal_path), heartbeat_interval=10)
    assert storage.get_heartbeat_interval() == 10
    sid = storage.create_new_study([StudyDirection.MINIMIZE])
    silent = storage.create_new_trial(sid)  # never beats: never stale
    fresh = storage.create_new_trial(sid)
    old = storage.create_new_trial(sid)
    done = storage.create_new_trial(sid)
    for trial_id in (fresh, old, done):
        storage.record_heartbeat(trial_id)
    storage.set_trial_state_values(done, TrialState.COMPLETE, [0.0])
    _age_heartbeat(journal_path, old, 21)  # default grace period: 2 x interval = 20 s
    _age_heartbeat(journal_path, done, 100)
    _age_heartbeat(journal_path, fresh, 19)
    assert storage._get_stale_trial_ids(sid) == [old]
    assert silent not in storage._get_stale_trial_ids(sid)

    explicit = osk.open_storage(helpers.url(journal_path), heartbeat_interval=10, grace_period=60)
    assert explicit._get_stale_trial_ids(sid) == []


def test_killed_worker_trial_is_failed_and_reported(
    journal_path: str, helpers: types.ModuleType
) -> None:
    url = helpers.url(journal_path)
    optuna.create_study(storage=osk.open_storage(url), study_name="hb")
    proc = helpers.worker("hang", url, "hb")
    assert proc.stdout is not None
    hung = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    _age_heartbeat(journal_path, hung, 5)

    failed: list[FrozenTrial] = []
    storage = osk.open_storage(
        url,
        heartbeat_interval=1,
        grace_period=2,
        heartbeat_stale_trial_callback=lambda study, trial: failed.append(trial),
    )
    study = optuna.load_study(storage=storage, study_name="hb")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # fails stale trials first
    assert [t._trial_id for t in failed] == [hung]
    assert storage.get_trial(hung).state == TrialState.FAIL
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # nothing more is stale
    assert len(failed) == 1
    assert [t.state for t in study.trials] == [
        TrialState.FAIL,
        TrialState.COMPLETE,
        TrialState.COMPLETE,
    ]

    # Optuna's own reader sees the same journal and no trace of heartbeats in it.
    reference = helpers.optuna_journal(journal_path)
    assert helpers.snapshot_of(reference) == helpers.snapshot_of(storage)
    assert reference.get_trial(hung).system_attrs == {}
    # One 8-byte slot per trial id: the file does not grow with the number of heartbeats.
    assert os.path.getsize(journal_path + ".heartbeat") == 8 * len(study.trials)


def test_optimize_with_heartbeat(journal_path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(journal_path), heartbeat_interval=1)
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    with open(journal_path + ".heartbeat", "rb") as f:
        beats = struct.unpack("<5d", f.read())
    assert all(b > 0 for b in beats)
