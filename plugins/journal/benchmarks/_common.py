"""Shared pieces of the journal benchmarks (loaded by path: pytest uses importlib mode)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from optuna_storage_kit.toolkit import workloads

optuna.logging.set_verbosity(optuna.logging.ERROR)


def trials(default: int) -> int:
    """The workload size, scaled by ``OSK_BENCH_SCALE`` (e.g. 0.1 for a quick run)."""
    return max(1, int(default * float(os.environ.get("OSK_BENCH_SCALE", "1"))))


def optimize(storage: Any, n: int, name: str | None = None) -> optuna.Study:
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        load_if_exists=name is not None,
        sampler=workloads.sampler("random"),
    )
    study.optimize(workloads.objective, n_trials=n)
    return study


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def url(path: str) -> str:
    return f"optuna+journal:///{path}"


def optuna_journal(path: str) -> JournalStorage:
    return JournalStorage(JournalFileBackend(path))


def report(benchmark: Any, title: str, figures: dict[str, float]) -> None:
    """Attach figures to the benchmark record and print them (run with -s to see them)."""
    benchmark.extra_info.update(figures)
    lines = [f"  {k:<50} {v:10.3f}" for k, v in figures.items()]
    print(f"\n{title}\n" + "\n".join(lines))
