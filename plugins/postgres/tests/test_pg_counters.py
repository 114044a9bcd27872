"""Deterministic round trips and commits per trial (the figures the kit's checks use)."""

from __future__ import annotations

import optuna
import pytest

import optuna_storage_kit as osk

from ._workers import objective
from .conftest import kit_url


@pytest.mark.parametrize(
    ("options", "level", "round_trips", "commits"),
    [
        ({}, optuna.logging.WARNING, 3, 2),
        ({"write_behind": False}, optuna.logging.WARNING, 7, 6),
        # Optuna's default level: each trial's log line reads the best trial (all trials,
        # incrementally) and the study's system attributes (the metric names), two round
        # trips more; RDBStorage runs the same two queries.
        ({}, optuna.logging.INFO, 5, 2),
    ],
    ids=["default-buffered", "write-through", "default-at-optunas-default-log-level"],
)
def test_round_trips_per_trial(
    empty_tables: str, options: dict[str, object], level: int, round_trips: int, commits: int
) -> None:
    storage = osk.open_storage(kit_url(empty_tables, **options))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(level)
    optuna.logging.disable_default_handler()
    try:
        study.optimize(objective, n_trials=2)  # learns the three distributions once
        runner = storage.inner._engine.runner
        before = {**storage.osk_counters(), "calls": runner.calls}
        study.optimize(objective, n_trials=20)
        after = {**storage.osk_counters(), "calls": runner.calls}
    finally:
        optuna.logging.enable_default_handler()
        optuna.logging.set_verbosity(previous)
    per_trial = {k: (after[k] - before[k]) / 20 for k in ("round_trips", "commits", "calls")}
    # Per trial: look for enqueued trials, create, (3 params, 1 user attribute), finish. By
    # default the params and the attribute go with the finish, in its one statement.
    # Every call run on the event loop makes one round trip: what needs no I/O (cached
    # reads, buffered writes) is answered without running the loop.
    assert per_trial == {"round_trips": round_trips, "commits": commits, "calls": round_trips}
    assert after["statements"] - before["statements"] == 20 * round_trips
    storage.inner.close()


def test_reads_of_finished_trials_are_cached(empty_tables: str) -> None:
    storage = osk.open_storage(kit_url(empty_tables))
    study = optuna.create_study(storage=storage)
    study.optimize(objective, n_trials=10)
    trials = study.get_trials(deepcopy=False)
    before = storage.osk_counters()["round_trips"]
    for trial in trials:
        assert storage.get_trial(trial._trial_id).params == trial.params
    study.get_trials()  # one incremental query, nothing new to read
    assert storage.osk_counters()["round_trips"] - before == 1
    storage.inner.close()
