"""Category 7, performance: standard workloads as ratios to the reference, and counts.

Each workload runs on the reference backend and on the candidate in the same session (the
candidate under pytest-benchmark, one round; both timed by the workload's own timer around the
same code). The certificate shows the ratio and, for backends with the
``counters`` capability, counts per trial. The backend's own thresholds (``Backend.thresholds``
or ``factory.thresholds``) fail it when exceeded; with ``--osk-baseline`` a count more than 5%
or a ratio more than 25% above the baseline is a regression. No absolute time is asserted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osk_conformance._perf import (
    WORKLOADS,
    baseline_figures,
    check_figures,
    figures_for,
    known_threshold,
    run_workload,
)
from osk_conformance._target import Target
from osk_conformance.plugin import record_figures

_REFERENCE_TIMES = pytest.StashKey[dict[str, float]]()


def _measure(benchmark: Any, timed: Any) -> tuple[float, dict[str, int]]:
    """Run the timed part once under pytest-benchmark (which records it in its JSON).

    The ratio uses the workload's own timer, the same code that timed the reference, so that
    process start-up (processes_8) and untimed preparation never enter it.
    """
    seconds, deltas = benchmark.pedantic(timed, rounds=1, iterations=1)
    return seconds, deltas


def _reference_seconds(
    request: pytest.FixtureRequest, workload: str, reference: Target, tmp: Path, quick: bool
) -> float:
    """The reference's time for ``workload``, measured once per session by the same code."""
    times = request.config.stash.setdefault(_REFERENCE_TIMES, {})
    if workload not in times:
        timed, _ = run_workload(workload, reference, tmp, quick, reference=True)
        times[workload] = timed()[0]
    return times[workload]


def test_thresholds_are_known(osk_target: Target) -> None:
    unknown = sorted(n for n in osk_target.thresholds if not known_threshold(n))
    assert not unknown, (
        f"unknown threshold names {unknown}: use <workload>.ratio or <workload>.<count>_per_trial"
        f" with a workload among {', '.join(WORKLOADS)}"
    )


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload(
    request: pytest.FixtureRequest,
    benchmark: Any,
    osk_target: Target,
    osk_reference: Target,
    osk_dir: Path,
    osk_quick: bool,
    workload: str,
) -> None:
    pool = None
    if workload == "processes_8":
        if not osk_target.has("multi_process"):
            pytest.skip(f"{osk_target.name} does not claim capability multi_process")
        pool = request.getfixturevalue("osk_process_pool")
        if pool.size != 8:
            pytest.skip(f"processes_8 needs --osk-workers 8 (this run uses {pool.size})")
    reference = _reference_seconds(request, workload, osk_reference, osk_dir / "ref", osk_quick)
    timed, trials = run_workload(workload, osk_target, osk_dir / "candidate", osk_quick, pool=pool)
    seconds, deltas = _measure(benchmark, timed)
    figures = figures_for(workload, seconds, reference, trials, deltas)
    figures["quick"] = osk_quick
    record_figures(request, osk_target, workload, figures)
    baseline = baseline_figures(request.config.getoption("osk_baseline")).get(workload)
    problems = check_figures(workload, figures, osk_target.thresholds, baseline)
    assert not problems, "; ".join(problems)
