"""Run the suite in-process with pytest and collect what each category did."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import optuna
import pytest

import optuna_storage_kit as osk
from osk_conformance._target import Target

__all__ = ["CATEGORIES", "Collector", "run_suite"]

CATEGORIES = {
    "api": "API contract (Optuna's StorageTestCase and the kit's edge cases)",
    "model": "Model-based comparison with the reference (Hypothesis state machine)",
    "concurrency": "Concurrency (threads and processes on one study)",
    "serialization": "Serialization strictness (matches the reference exactly)",
    "durability": "Durability (SIGKILLed writer, reopened store)",
    "lifecycle": "Lifecycle (normal exits, ask/tell across processes, visibility, "
    "read-only inspection, full disk)",
    "capabilities": "Capabilities (each claim held to)",
    "performance": "Performance (ratios to the reference, counts, thresholds)",
}
SUITE = Path(__file__).parent / "suite"


@dataclasses.dataclass
class Outcome:
    nodeid: str
    category: str
    outcome: str  # passed | failed | skipped
    reason: str = ""
    seconds: float = 0.0


class Collector:
    """A pytest plugin object that records each test's outcome by category."""

    def __init__(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self.figures: dict[str, dict[str, Any]] = {}
        self.total = 0
        self.errors: list[str] = []
        self._progress = progress

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {report.longreprtext[-2000:]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category = _category(report.nodeid)
        current = self.outcomes.get(report.nodeid)
        if report.when == "call" or report.outcome != "passed":
            reason = ""
            if report.skipped and isinstance(report.longrepr, tuple):
                reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            elif report.failed:
                reason = _short(report.longreprtext)
                if report.when != "call":
                    reason = f"in {report.when}: {reason}"
            if current is None or current.outcome == "passed":
                self.outcomes[report.nodeid] = Outcome(
                    report.nodeid, category, report.outcome, reason, report.duration
                )
        if report.when == "teardown" and self._progress is not None:
            self._progress(report.nodeid, len(self.outcomes), self.total)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from osk_conformance.plugin import FIGURES

        self.figures = session.config.stash.get(FIGURES, {})


def _category(nodeid: str) -> str:
    module = nodeid.split("::")[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


def _short(text: str) -> str:
    """The assertion or error line(s) of a failure, at most ~600 characters."""
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    short = " ".join(ln[1:].strip() for ln in lines) or text.strip().splitlines()[-1:][0]
    return short[:600]


def run_suite(
    target: Target,
    *,
    quick: bool,
    categories: list[str],
    out: Path,
    select: str | None = None,
    baseline: str | None = None,
    workers: int = 8,
    seed: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[int, Collector]:
    """Run the chosen categories on ``target``; write JUnit XML to ``out``. Return the exit."""
    collector = Collector(progress)
    option = "--osk-url" if target.kind == "url" else "--osk-factory"
    args = [
        *(str(SUITE / f"test_{c}.py") for c in categories),
        option,
        target.spec.partition(":")[2],
        "--osk-workers",
        str(workers),
        "-c",
        str(SUITE / "kit.ini"),
        "--rootdir",
        str(SUITE),
        "-p",
        "no:cacheprovider",
        *(["-p", "no:terminal"] if progress else ["-q", "--no-header"]),
        f"--junitxml={out / 'certificate.junit.xml'}",
        "--benchmark-json",
        str(out / "benchmark.json"),
        "--benchmark-disable-gc",
    ]
    if quick:
        args.append("--osk-quick")
    if select:
        args += ["-k", select]
    if baseline:
        args += ["--osk-baseline", baseline]
    if seed is not None:
        args += ["--osk-seed", str(seed)]
    code = pytest.main(args, plugins=[collector])
    return int(code), collector


def versions() -> dict[str, str]:
    """The versions a certificate names."""

    def dist(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "spec_version": str(osk.SPEC_VERSION),
        "optuna_storage_kit": osk.__version__,
        "osk_conformance": dist("osk-conformance"),
        "optuna": optuna.__version__,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "hypothesis": dist("hypothesis"),
        "pytest_benchmark": dist("pytest-benchmark"),
        "platform": f"{sys.platform} {platform.machine()}",
        "cpus": str(os.cpu_count()),
    }
