"""Many processes on one study: unique trial numbers, enqueued trials run once, no errors."""

from __future__ import annotations

import threading

import optuna
from optuna.trial import TrialState

import optuna_storage_kit as osk

from ._workers import run_processes
from .conftest import admin_execute, kit_url, rdb_url


def _study(database: str, name: str) -> None:
    storage = osk.open_storage(kit_url(database))
    optuna.create_study(study_name=name, storage=storage)
    storage.inner.close()


def _trials(database: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = osk.open_storage(kit_url(database))
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.inner.close()


def _check_complete_and_numbered(trials: list[optuna.trial.FrozenTrial], expected: int) -> None:
    assert len(trials) == expected
    assert sorted(t.number for t in trials) == list(range(expected))
    assert len({t._trial_id for t in trials}) == expected
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(set(t.params) == {"x", "y", "z"} for t in trials)


def _optimize_in_processes(database: str, url: str, study: str, procs: int, each: int) -> None:
    """``procs`` worker processes optimize ``study``, ``each`` trials apiece: no error reaches
    a worker, every trial is COMPLETE and numbered once, and every process ran some."""
    results = run_processes([(url, study, each, "kit")] * procs)
    errors = [text for status, text in results if status != "ok"]
    assert errors == []
    trials = _trials(database, study)
    _check_complete_and_numbered(trials, procs * each)
    assert len({t.user_attrs["pid"] for t in trials}) == procs


def test_32_processes_one_study(empty_tables: str) -> None:
    _study(empty_tables, "p32")
    _optimize_in_processes(empty_tables, kit_url(empty_tables, pool_size=1), "p32", 32, 12)
    # The database agrees, independent of this backend's reading code.
    rows = admin_execute(
        "SELECT count(*), count(DISTINCT number), min(number), max(number) FROM trials",
        database=empty_tables,
    )
    assert rows == [(384, 384, 0, 383)]


def test_50_processes_one_study_with_bounded_connections(empty_tables: str) -> None:
    # The users run 50 workers. With pool_size=1 each process holds at most one
    # connection at a time (the one opened at start is closed before the pool opens), so 50
    # processes fit the server's max_connections (100 here) with room for everyone else.
    max_connections = int(admin_execute("SHOW max_connections")[0][0])
    assert max_connections >= 50 + 10, "the server needs room for 50 workers and the tests"
    _study(empty_tables, "p50")
    url = kit_url(empty_tables, pool_size=1, application_name="osk-p50")
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            n = admin_execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'osk-p50'"
            )[0][0]
            peak[0] = max(peak[0], n)
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        _optimize_in_processes(empty_tables, url, "p50", 50, 4)
    finally:
        done.set()
        watcher.join()
    rows = admin_execute(
        "SELECT count(*), count(DISTINCT number), count(DISTINCT trial_id) FROM trials",
        database=empty_tables,
    )
    assert rows == [(200, 200, 200)]
    assert 0 < peak[0] <= 50


def test_enqueued_trials_run_exactly_once(empty_tables: str) -> None:
    _study(empty_tables, "queue")
    storage = osk.open_storage(kit_url(empty_tables))
    study = optuna.load_study(study_name="queue", storage=storage)
    for i in range(40):
        study.enqueue_trial({"x": float(i) / 10, "y": 0.0, "z": 0})
    storage.inner.close()
    url = kit_url(empty_tables, pool_size=1)
    results = run_processes([(url, "queue", 5, "kit")] * 8)
    assert [status for status, _ in results] == ["ok"] * 8
    trials = _trials(empty_tables, "queue")
    _check_complete_and_numbered(trials, 40)
    assert sorted(t.params["x"] for t in trials) == [i / 10 for i in range(40)]


def test_rdbstorage_and_kit_workers_share_a_study(empty_tables: str) -> None:
    _study(empty_tables, "mixed")
    kit = kit_url(empty_tables, pool_size=1)
    rdb = rdb_url(empty_tables)
    specs = [(kit, "mixed", 15, "kit")] * 4 + [(rdb, "mixed", 10, "rdb")] * 2
    results = run_processes(specs)
    errors = [text for status, text in results if status != "ok"]
    assert errors == []
    _check_complete_and_numbered(_trials(empty_tables, "mixed"), 4 * 15 + 2 * 10)
