"""``osk demo``: the seed use case at scale, timed (the standard workload,
:mod:`optuna_storage_kit.toolkit.workloads`).

The URL may be any location the tools take (:mod:`optuna_storage_kit.tools.locations`):
an ``optuna+`` URL, Optuna's own ``sqlite:///``/``postgresql://`` URL or a journal file path.
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile
import time

import optuna
from optuna.storages import BaseStorage
from rich.console import Console
from rich.table import Table

import optuna_storage_kit as osk
from optuna_storage_kit.toolkit import workloads
from optuna_storage_kit.tools.locations import (
    REFERENCE_URL,
    Location,
    classify,
    file_backends,
    new_file_url,
    open_any,
)
from optuna_storage_kit.tools.output import Progress

__all__ = ["DemoResult", "default_url", "print_results", "run"]


@dataclasses.dataclass(frozen=True)
class DemoResult:
    backend: str
    url: str
    trials: int
    seconds: float
    best_value: float
    note: str | None = None
    """Where a file store is and how to open it again, for the user."""

    @property
    def trials_per_second(self) -> float:
        return self.trials / self.seconds if self.seconds > 0 else float("inf")


def default_url() -> str:
    """A fresh file on the installed file backend of highest ``default_rank``, or the in-memory
    reference when no file backend is installed."""
    backends = file_backends()
    if not backends:
        return REFERENCE_URL
    directory = pathlib.Path(tempfile.mkdtemp(prefix="osk-demo-"))
    return new_file_url(backends[0], directory, "demo")


def run_one(url: str, trials: int, sampler: str, progress: Progress | None) -> DemoResult:
    """Optimize ``trials`` trials in a new study at ``url`` and time it."""
    if trials < 1:
        raise ValueError(f"a demo needs at least one trial, got {trials}")
    location = classify(url)
    storage = open_any(location)
    study = optuna.create_study(storage=storage, sampler=workloads.sampler(sampler))
    callbacks = []
    if progress is not None:
        progress.start(f"{location.label}: optimizing", trials, "trials")
        callbacks.append(lambda _study, _trial: progress.advance())
    start = time.perf_counter()
    study.optimize(workloads.objective, n_trials=trials, callbacks=callbacks)
    seconds = time.perf_counter() - start
    if progress is not None:
        progress.finish()
    note = _file_note(location, storage)
    return DemoResult(location.label, location.shown, trials, seconds, study.best_value, note)


def _file_note(location: Location, storage: BaseStorage) -> str | None:
    """Where an ``optuna+`` file store is, in what format, and how to open it again."""
    path = location.file
    if location.kind != "osk" or path is None or not isinstance(storage, osk.KitStorage):
        return None
    backend = osk.get_registry().backend_for(storage.url.scheme)
    described = backend.describe(storage.inner) if backend.describe is not None else {}
    what = f" (format: {described['format']})" if "format" in described else ""
    return (
        f"The study is in {path}{what}: open it again with storage={location.shown!r} (after "
        f"import optuna_storage_kit), osk info or osk dashboard."
    )


def run(
    *, url: str | None, trials: int, sampler: str, compare: bool, progress: Progress | None
) -> list[DemoResult]:
    """Run the demo on ``url`` (default: :func:`default_url`), then in memory if ``compare``."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        results = [run_one(url or default_url(), trials, sampler, progress)]
        if compare and results[0].backend != "memory":
            results.append(run_one(REFERENCE_URL, trials, sampler, progress))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return results


def print_results(results: list[DemoResult], console: Console) -> None:
    reference = next((r for r in results if r.backend == "memory"), None)
    table = Table(title=f"osk demo: {results[0].trials} trials, 3 float params")
    for column in ("backend", "URL", "seconds", "trials/s", "time vs memory", "best value"):
        table.add_column(column, overflow="fold")
    for r in results:
        ratio = f"{r.seconds / reference.seconds:.2f}x" if reference else "-"
        table.add_row(
            r.backend,
            r.url,
            f"{r.seconds:.2f}",
            f"{r.trials_per_second:,.0f}",
            ratio,
            f"{r.best_value:.4g}",
        )
    console.print(table)
    for r in results:
        if r.note:
            console.print(r.note)
