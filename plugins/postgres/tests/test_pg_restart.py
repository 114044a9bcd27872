"""Lost connections and server restarts: work goes on, nothing acknowledged is lost or doubled."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk

from ._workers import objective
from .conftest import admin_execute, kit_url

KILL_SESSIONS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = %s AND pid <> pg_backend_pid()
"""


def _check(study: optuna.Study, expected: int) -> None:
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == expected
    assert sorted(t.number for t in trials) == list(range(expected))
    assert all(t.state == TrialState.COMPLETE and len(t.params) == 3 for t in trials)


def _optimize_while(database: str, disturb, n_trials: int, **options: object) -> tuple:
    storage = osk.open_storage(kit_url(database, **options))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler())
    done = threading.Event()
    disturber = threading.Thread(target=disturb, args=(done,))
    disturber.start()
    try:
        study.optimize(objective, n_trials=n_trials)
    finally:
        done.set()
        disturber.join()
    counters = storage.inner.connection_stats()
    fresh = osk.open_storage(kit_url(database))
    try:
        _check(optuna.load_study(study_name=study.study_name, storage=fresh), n_trials)
    finally:
        fresh.inner.close()
        storage.inner.close()
    return counters


@pytest.mark.parametrize("write_behind", [False, True], ids=["write-through", "buffered"])
def test_terminated_backends_are_replaced_transparently(
    empty_tables: str, write_behind: bool
) -> None:
    killed = []

    def disturb(done: threading.Event) -> None:
        while not done.is_set() and len(killed) < 8:
            time.sleep(0.15)
            killed.append(admin_execute(KILL_SESSIONS, (empty_tables,))[0][0])

    counters = _optimize_while(empty_tables, disturb, 150, write_behind=write_behind, pool_size=2)
    assert sum(killed) > 0
    assert counters["reconnects"] > 0


@pytest.mark.skipif(
    os.environ.get("OSK_TEST_PG_RESTART") != "1",
    reason="restarts the local Postgres server; set OSK_TEST_PG_RESTART=1 where that is safe",
)
def test_server_restart(empty_tables: str) -> None:
    command = os.environ.get(
        "OSK_TEST_PG_RESTART_CMD", "pg_ctlcluster --skip-systemctl-redirect 15 main restart"
    )

    def disturb(done: threading.Event) -> None:
        time.sleep(0.5)
        subprocess.run(command.split(), check=True, timeout=120)

    counters = _optimize_while(empty_tables, disturb, 300, reconnect_timeout=90)
    assert counters["reconnects"] > 0
