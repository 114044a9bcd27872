"""Opening a journal of 100,000 records: Optuna's JournalStorage against ours, cold (full
replay) and from a snapshot. Goal: at least 5x faster than Optuna's."""

from __future__ import annotations

import os
import types
from typing import Any

import optuna

from osk_journal import JournalFileStorage


def _build(path: str, n_ops: int, common: types.ModuleType) -> int:
    storage = JournalFileStorage(path, fsync="never", snapshot_every=0)
    # Each trial: create, 3 params, 1 intermediate value, 1 user attr, finish = 7 records.
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("fold", trial.number % 5)
        trial.report(0.5, 1)
        return common.objective(trial)

    study.optimize(objective, n_trials=max(1, n_ops // 7))
    return storage._journal.state.n_ops


def test_open_100k(benchmark: Any, common: types.ModuleType, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "big.log")
    n_ops = _build(path, common.trials(100_000), common)

    # Open, then list the trials as a sampler does (without deep copies).
    def optuna_open() -> None:
        common.optuna_journal(path).get_all_trials(0, deepcopy=False)

    def cold() -> None:
        JournalFileStorage(path, snapshot_every=0).get_all_trials(0, deepcopy=False)

    reference = min(common.timed(optuna_open) for _ in range(2))
    cold_s = min(common.timed(cold) for _ in range(2))
    JournalFileStorage(path, snapshot_every=0).snapshot()

    def warm() -> None:
        JournalFileStorage(path).get_all_trials(0, deepcopy=False)

    benchmark.pedantic(warm, rounds=3, iterations=1)
    warm_s = benchmark.stats.stats.min
    common.report(
        benchmark,
        f"open a journal of {n_ops} records and list its trials: seconds and ratios",
        {
            "records": n_ops,
            "optuna_journal_s": reference,
            "osk_journal_full_replay_s": cold_s,
            "osk_journal_from_snapshot_s": warm_s,
            "optuna_over_osk_full_replay": reference / cold_s,
            "optuna_over_osk_snapshot": reference / warm_s,
        },
    )
