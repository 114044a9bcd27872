"""Category 7, performance: standard workloads as ratios to the reference, and counts.

Each workload runs ROUNDS times on the reference backend and on the candidate, interleaved,
in the same session (the candidate under pytest-benchmark; both timed by the workload's own
timer around the same code), and the ratio compares their fastest rounds. The certificate
shows the ratio and, for backends with the ``counters`` capability, counts per trial. The
backend's own thresholds (``Backend.thresholds`` or ``factory.thresholds``) fail it when
exceeded; with ``--osk-baseline`` a count more than 5% or a ratio more than 25% above the
baseline is a regression. No absolute time is asserted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osk_conformance._perf import (
    ROUNDS,
    WORKLOADS,
    baseline_figures,
    check_figures,
    figures_for,
    known_threshold,
    run_workload,
)
from osk_conformance._target import Target
from osk_conformance.plugin import record_figures


def _interleaved(
    benchmark: Any,
    workload: str,
    target: Target,
    reference: Target,
    directory: Path,
    quick: bool,
    pool: Any,
) -> tuple[list[float], list[float], int, dict[str, int]]:
    """Time ROUNDS rounds of the candidate, each right after a round of the reference.

    Interleaving exposes both to the same load on a shared machine, and the ratio of their
    minimum times discards the rounds another process disturbed. Preparation is untimed (it
    runs in pytest-benchmark's ``setup``). Counts come from the first, cold-cache round.

    Returns:
        ``(reference seconds, candidate seconds, trials, counter deltas of round 1)``.
    """
    reference_seconds: list[float] = []
    candidate: list[tuple[float, dict[str, int]]] = []
    prepared: dict[str, Any] = {}

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        timed_reference, _ = run_workload(
            workload, reference, directory / "ref", quick, reference=True
        )
        reference_seconds.append(timed_reference()[0])
        prepared["timed"], prepared["trials"] = run_workload(
            workload, target, directory / "candidate", quick, pool=pool
        )
        return (), {}

    def run() -> tuple[float, dict[str, int]]:
        result: tuple[float, dict[str, int]] = prepared["timed"]()
        candidate.append(result)
        return result

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    return reference_seconds, [c[0] for c in candidate], prepared["trials"], candidate[0][1]


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
    references, seconds, trials, deltas = _interleaved(
        benchmark, workload, osk_target, osk_reference, osk_dir, osk_quick, pool
    )
    figures = figures_for(workload, min(seconds), min(references), trials, deltas)
    figures["rounds"] = len(seconds)
    figures["quick"] = osk_quick
    record_figures(request, osk_target, workload, figures)
    baseline = baseline_figures(request.config.getoption("osk_baseline")).get(workload)
    problems = check_figures(workload, figures, osk_target.thresholds, baseline)
    assert not problems, "; ".join(problems)
