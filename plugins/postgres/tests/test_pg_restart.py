"""Lost connections and server restarts: work goes on, nothing acknowledged is lost or doubled."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk

from ._private_server import private_server, unavailable_reason
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


def _optimize_while(url: Callable[..., str], disturb, n_trials: int, **options: object) -> dict:
    """``study.optimize`` through ``url(**options)`` while ``disturb`` runs in a thread; check
    every trial through a fresh storage; return the first storage's connection counters."""
    storage = osk.open_storage(url(**options))
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
    fresh = osk.open_storage(url())
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

    url = functools.partial(kit_url, empty_tables)
    counters = _optimize_while(url, disturb, 150, write_behind=write_behind, pool_size=2)
    assert sum(killed) > 0
    assert counters["reconnects"] > 0


def test_server_restart() -> None:
    """A real restart (``pg_ctl restart``) of a private server mid-study: the study goes on."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.fail(f"cannot start a private Postgres server for the restart test: {reason}")
    with private_server() as server:

        def disturb(done: threading.Event) -> None:
            time.sleep(0.5)
            server.restart()

        url = functools.partial(server.url, "postgres")
        counters = _optimize_while(url, disturb, 300, reconnect_timeout=90)
    assert counters["reconnects"] > 0
