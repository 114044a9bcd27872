"""Many processes on one file: unique numbers, WAITING trials popped once, no lock errors,
RDBStorage writing alongside, heartbeats failing the trials of a killed worker."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

import optuna_storage_kit as osk


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -5, 5) ** 2 + trial.suggest_int("y", 0, 10)


def test_processes_share_one_file(tmp_path: Path, in_other_process: ModuleType) -> None:
    _start = in_other_process.start
    path = tmp_path / "shared.db"
    url = f"optuna+sqlite:///{path}"
    study = optuna.create_study(study_name="s", storage=url)
    for i in range(24):
        study.enqueue_trial({"x": i / 10, "y": i % 11})
    workers = [_start("optimize", url, "s", 30) for _ in range(3)]
    # Optuna's own RDBStorage works on the same file at the same time.
    workers.append(_start("optimize", f"sqlite:///{path}", "s", 10))
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()
        assert b"locked" not in err
    trials = study.get_trials()
    assert len(trials) == 24 + 100 - 24  # enqueued trials are run, not added to
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    enqueued = Counter(
        (t.params["x"], t.params["y"]) for t in trials if "fixed_params" in t.system_attrs
    )
    assert len(enqueued) == 24 and set(enqueued.values()) == {1}, "each WAITING trial ran once"
    # A fresh reader (another process's view) agrees, and so does RDBStorage.
    again = optuna.load_study(study_name="s", storage=url).get_trials()
    assert [(t.number, t.params, t.value) for t in again] == [
        (t.number, t.params, t.value) for t in trials
    ]
    rdb = in_other_process.run("dump", f"sqlite:///{path}", "s")
    assert [(t[0], t[2]) for t in rdb["trials"]] == [(t.number, t.values) for t in trials]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_killed_worker_keeps_commits_and_its_trial_is_failed(
    tmp_path: Path, in_other_process: ModuleType
) -> None:
    _start = in_other_process.start
    url = f"optuna+sqlite:///{tmp_path / 'hb.db'}"
    optuna.create_study(study_name="hb", storage=url)
    worker = _start("hang", url, "hb", 5)
    reader = osk.open_storage(url)
    study_id = reader.get_study_id_from_name("hb")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the hanging trial's first heartbeat
        running = reader.get_all_trials(study_id, states=(TrialState.RUNNING,))
        if running and reader.get_trial_user_attrs(running[0]._trial_id).get("hung"):
            break
        time.sleep(0.1)
    else:
        worker.kill()
        worker.communicate()
        raise AssertionError("the worker never reached its hanging trial")
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    # Every trial the worker finished survived the kill.
    assert reader.get_n_trials(study_id, TrialState.COMPLETE) == 5
    failed: list[int] = []
    storage = osk.open_storage(
        url,
        heartbeat_interval=1,
        grace_period=2,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )
    study = optuna.load_study(study_name="hb", storage=storage)
    deadline = time.monotonic() + 30
    while not failed and time.monotonic() < deadline:
        time.sleep(0.5)
        optuna.storages.fail_stale_trials(study)
        failed = [t.number for t in study.get_trials(states=(TrialState.FAIL,))]
    assert failed == [5]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1, "the callback re-enqueued the stale trial"
    assert waiting[0].system_attrs["retry_history"] == [5]
    # The retried trial runs in this process like any other.
    study.optimize(_objective, n_trials=1)
    assert study.trials[6].state == TrialState.COMPLETE
