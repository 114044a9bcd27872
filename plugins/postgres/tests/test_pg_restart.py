"""Lost connections and server restarts: work goes on, nothing acknowledged is lost or doubled."""

from __future__ import annotations

import functools
import threading
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


def _optimize_while(
    url: Callable[..., str],
    disturb: Callable[[threading.Event], None],
    n_trials: int,
    func: Callable[[optuna.Trial], float] = objective,
    **options: object,
) -> dict:
    """``study.optimize(func)`` through ``url(**options)`` while ``disturb`` runs in a thread;
    check every trial through a fresh storage; return the first storage's connection counters."""
    storage = osk.open_storage(url(**options))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler())
    done = threading.Event()
    disturber = threading.Thread(target=disturb, args=(done,))
    disturber.start()
    try:
        study.optimize(func, n_trials=n_trials)
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

    def killing(trial: optuna.Trial) -> float:
        # Every 20th trial has asked and suggested when its sessions are cut; it is told after.
        value = objective(trial)
        if trial.number % 20 == 10:
            killed.append(admin_execute(KILL_SESSIONS, (empty_tables,))[0][0])
        return value

    url = functools.partial(kit_url, empty_tables)
    counters = _optimize_while(
        url, lambda done: None, 150, killing, write_behind=write_behind, pool_size=2
    )
    assert len(killed) == 7 and sum(killed) > 0
    assert counters["reconnects"] > 0


def test_server_restart() -> None:
    """A real restart (``pg_ctl restart``) of a private server mid-study: the study goes on."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.fail(f"cannot start a private Postgres server for the restart test: {reason}")
    started, restarted = threading.Event(), threading.Event()

    def gated(trial: optuna.Trial) -> float:
        # Trial 20 lets the restart begin; trial 100 has asked and suggested on the old server
        # and waits for the new one before it is told: the restart always falls mid-study.
        if trial.number == 20:
            started.set()
        value = objective(trial)
        if trial.number == 100:
            assert restarted.wait(timeout=300), "the private server did not restart"
        return value

    with private_server() as server:

        def disturb(done: threading.Event) -> None:
            if started.wait(timeout=300):
                server.restart()
                restarted.set()

        url = functools.partial(server.url, "postgres")
        counters = _optimize_while(url, disturb, 300, gated, reconnect_timeout=90)
    assert restarted.is_set()
    assert counters["reconnects"] > 0
