"""The standard performance workloads (on :mod:`optuna_storage_kit.toolkit.workloads`), their
sizes, and the checks of their figures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from optuna_storage_kit.toolkit import workloads
from osk_conformance._pool import ProcessPool
from osk_conformance._target import Target
from osk_conformance._workers import counters, study_for

__all__ = ["ROUNDS", "SIZES", "WORKLOADS", "check_figures", "run_workload"]

WORKLOADS = ("random_5000", "tpe_1000", "get_all_trials_10000", "processes_8")
SIZES: dict[str, tuple[int, int]] = {
    # workload: (full size, --quick size); processes_8 counts trials per process.
    "random_5000": (5000, 500),
    "tpe_1000": (1000, 100),
    "get_all_trials_10000": (10000, 1000),
    "processes_8": (100, 20),
}
ROUNDS = 3
"""Interleaved rounds of reference and candidate per workload; the fastest of each is compared."""
COUNT_SLACK = 1.05
RATIO_SLACK = 1.25


def size_of(workload: str, quick: bool) -> int:
    return SIZES[workload][1 if quick else 0]


def run_workload(
    workload: str,
    target: Target,
    directory: Path,
    quick: bool,
    reference: bool = False,
    pool: ProcessPool | None = None,
) -> Any:
    """Return ``(timed, trials)``: a no-argument callable doing the timed part, and its size.

    The store is prepared before this returns (untimed). Call the callable once; it returns
    ``(seconds, counter deltas)``.
    """
    n = size_of(workload, quick)
    name = f"osk-{uuid.uuid4().hex}"
    if workload == "processes_8" and reference:
        workload, n = "random_5000", 8 * n  # one process doing all 8 processes' trials
    storage = target.open(directory)
    if workload in ("random_5000", "tpe_1000"):
        study = study_for(storage, name, "tpe" if workload == "tpe_1000" else "random")

        def timed() -> tuple[float, dict[str, int]]:
            before = counters(storage)
            start = time.perf_counter()
            study.optimize(workloads.objective, n_trials=n, catch=())
            seconds = time.perf_counter() - start
            return seconds, _delta(before, counters(storage))

        return timed, n
    if workload == "get_all_trials_10000":
        study = optuna.create_study(storage=storage, study_name=name)
        study.add_trials(workloads.finished_trials(n))
        reader = target.open(directory)
        study_id = reader.get_study_id_from_name(name)

        def timed() -> tuple[float, dict[str, int]]:
            before = counters(reader)
            start = time.perf_counter()
            for _ in range(3):
                assert len(reader.get_all_trials(study_id)) == n
            seconds = time.perf_counter() - start
            return seconds, _delta(before, counters(reader))

        return timed, n
    if workload == "processes_8":
        optuna.create_study(storage=storage, study_name=name)

        def timed_processes() -> tuple[float, dict[str, int]]:
            assert pool is not None and pool.size == 8, "processes_8 needs a pool of 8"
            results = pool.optimize(target.spec, directory, name, n)
            errors = [r["error"] for r in results if r["error"]]
            assert not errors, f"a worker failed: {errors[0]}"
            return max(r["end"] for r in results) - min(r["start"] for r in results), {}

        return timed_processes, 8 * n
    raise ValueError(f"unknown workload {workload!r}")


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def figures_for(
    workload: str, seconds: float, reference_seconds: float, trials: int, deltas: dict[str, int]
) -> dict[str, Any]:
    """The figures the certificate shows for one workload."""
    figures: dict[str, Any] = {
        "trials": trials,
        "seconds": round(seconds, 6),
        "reference_seconds": round(reference_seconds, 6),
        "ratio": round(seconds / reference_seconds, 4) if reference_seconds > 0 else None,
    }
    for key, value in sorted(deltas.items()):
        figures[f"{key}_per_trial"] = round(value / trials, 4)
    return figures


def check_figures(
    workload: str,
    figures: Mapping[str, Any],
    thresholds: Mapping[str, float],
    baseline: Mapping[str, Any] | None,
) -> list[str]:
    """Return the problems: thresholds exceeded and regressions against the baseline."""
    problems = []
    for name, limit in thresholds.items():
        prefix, _, metric = name.partition(".")
        if prefix != workload:
            continue
        value = figures.get(metric)
        if value is None:
            problems.append(f"threshold {name} = {limit:g} but the backend reports no {metric}")
        elif value > limit:
            problems.append(f"{name} is {value:g}, above the backend's threshold {limit:g}")
    for metric, old in (baseline or {}).items():
        new = figures.get(metric)
        if not isinstance(old, (int, float)) or not isinstance(new, (int, float)) or old <= 0:
            continue
        if metric == "ratio" and new > old * RATIO_SLACK:
            problems.append(f"regression: {workload}.ratio {new:g} vs baseline {old:g} (+25% max)")
        elif metric.endswith("_per_trial") and new > old * COUNT_SLACK:
            problems.append(
                f"regression: {workload}.{metric} {new:g} vs baseline {old:g} (+5% max)"
            )
    return problems


def baseline_figures(path: str | None) -> dict[str, Any]:
    """A previous certificate's performance figures by workload, or ``{}``."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    return dict(data.get("performance", {}).get("figures", {}))


def known_threshold(name: str) -> bool:
    workload, _, metric = name.partition(".")
    return workload in WORKLOADS and (metric == "ratio" or metric.endswith("_per_trial"))
