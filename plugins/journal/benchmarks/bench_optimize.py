"""random_5000: study.optimize, RandomSampler, 3 float params, against memory and Optuna's
JournalStorage in the same run. Goal: at most 3x the in-memory time."""

from __future__ import annotations

import os
import types
from typing import Any

import optuna_storage_kit as osk


def test_random_5000(benchmark: Any, common: types.ModuleType, tmp_path: os.PathLike[str]) -> None:
    n = common.trials(5000)
    memory = common.timed(lambda: common.optimize("optuna+memory://", n))
    reference = common.timed(
        lambda: common.optimize(common.optuna_journal(os.path.join(str(tmp_path), "o.log")), n)
    )
    runs = iter(range(100))

    def fresh() -> tuple[tuple[Any, int], dict[str, Any]]:
        path = os.path.join(str(tmp_path), f"ours{next(runs)}.log")
        return (osk.open_storage(f"optuna+journal:///{path}"), n), {}

    benchmark.pedantic(common.optimize, setup=fresh, rounds=1, iterations=1)
    ours = benchmark.stats.stats.mean
    common.report(
        benchmark,
        f"random_{n}: seconds and ratios",
        {
            "memory_s": memory,
            "osk_journal_s": ours,
            "optuna_journal_s": reference,
            "osk_journal_over_memory": ours / memory,
            "optuna_journal_over_memory": reference / memory,
            "optuna_journal_over_osk_journal": reference / ours,
        },
    )
