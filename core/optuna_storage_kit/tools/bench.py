"""``osk bench``: the standard workloads on several storages, side by side in one run.

Every storage runs the same workloads in the same process run, so the ratios compare like with
like on whatever machine this is. The in-memory backend (``optuna+memory://``) is the reference
(ratio 1); Optuna's own ``RDBStorage`` on a SQLite file and ``JournalStorage`` on a file are the
baselines users migrate from.

Workloads (the objective, samplers and trials of :mod:`optuna_storage_kit.toolkit.workloads`,
which ``osk demo`` and ``osk certify`` run too: three float parameters):

* ``random``: ``study.optimize`` with ``RandomSampler``, N trials.
* ``tpe``: the same with ``TPESampler`` (reads every trial each time it samples).
* ``get_all_trials``: a study of N finished trials (written untimed) is opened by a new
  storage object, as a new worker or ``load_study`` would, and all its trials are read once;
  the time covers opening and reading. Stores that one object cannot share with another
  (``optuna+memory://``) are read through the object that wrote them. Always one process.

With ``workers > 1`` a storage that supports several processes runs the workload in that many
processes on one study, each doing its share of the trials; the time is the wall time from the
moment all of them are ready to the moment the last one finishes: steady-state throughput. The
workers' start-up (a fresh interpreter each, importing Optuna, opening the storage and loading
the study) is measured apart, as ``startup_seconds``, and never mixed in. The reference always
runs in one process: the ratio says how many times longer the storage took for N trials than
one process took in memory.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import pathlib
import platform
import time
import uuid
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.storages import BaseStorage

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

__all__ = [
    "REFERENCE_URL",
    "WORKLOADS",
    "BenchResult",
    "baseline_urls",
    "default_urls",
    "report",
    "run",
]

WORKLOADS = ("random", "tpe", "get_all_trials")
_PARALLEL = ("random", "tpe")


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """One storage on one workload."""

    workload: str
    label: str
    url: str
    kind: str
    role: str
    workers: int
    trials: int
    seconds: float
    startup_seconds: float = 0.0
    """With several workers: from starting them until every one was ready (not in ``seconds``)."""

    @property
    def trials_per_second(self) -> float:
        return self.trials / self.seconds if self.seconds > 0 else float("inf")


def default_urls(directory: pathlib.Path) -> list[str]:
    """A fresh file in ``directory`` for each installed file backend."""
    return [new_file_url(b, directory, f"bench-{b.name}") for b in file_backends()]


def baseline_urls(directory: pathlib.Path) -> list[str]:
    """Optuna's RDBStorage on a SQLite file and JournalStorage on a file, in ``directory``."""
    return [f"sqlite:///{directory / 'optuna-rdb.db'}", str(directory / "optuna-journal.log")]


def run(
    urls: Sequence[str],
    baselines: Sequence[str],
    *,
    trials: int,
    workers: int,
    workloads: Sequence[str] = WORKLOADS,
    progress: Progress | None = None,
) -> list[BenchResult]:
    """Time every workload on the reference, the baselines and ``urls``.

    Args:
        urls: The storages to measure.
        baselines: Optuna's storages to compare with (see :func:`baseline_urls`).
        trials: Trials per workload and storage.
        workers: Processes per storage that supports several; 1 runs in this process.
        workloads: Names from :data:`WORKLOADS`.
        progress: Shows each measurement as it starts and advances after it.

    Raises:
        StorageKitError: A URL cannot be opened.
    """
    entries = [(REFERENCE_URL, "reference")]
    entries += [(u, "baseline") for u in baselines]
    entries += [(u, "measured") for u in urls if u != REFERENCE_URL]
    locations = [(classify(u), role) for u, role in entries]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = []
    if progress is not None:
        progress.start("osk bench", len(workloads) * len(locations), "measurements")
    try:
        for workload in workloads:
            for loc, role in locations:
                parallel = role != "reference" and workload in _PARALLEL and loc.multi_process
                n_workers = workers if parallel else 1
                if progress is not None:
                    progress.step(
                        f"{workload}: {loc.label} ({loc.shown}), {n_workers} process(es)"
                    )
                seconds, startup = _time(loc, workload, trials, n_workers)
                results.append(
                    BenchResult(
                        workload,
                        loc.label,
                        loc.shown,
                        loc.kind,
                        role,
                        n_workers,
                        trials,
                        seconds,
                        startup,
                    )
                )
                if progress is not None:
                    progress.advance()
    finally:
        optuna.logging.set_verbosity(verbosity)
    return results


def _time(loc: Location, workload: str, trials: int, workers: int) -> tuple[float, float]:
    """Time one workload on a new study, then delete the study (it was only a measurement).

    Returns the workload's seconds and the workers' start-up seconds (0 in this process)."""
    storage = open_any(loc)
    name = f"osk-bench-{workload}-{uuid.uuid4().hex[:8]}"
    study_id = optuna.create_study(storage=storage, study_name=name)._study_id
    try:
        if workload == "get_all_trials":
            return _time_read(loc, storage, name, trials), 0.0
        if workers == 1:
            study = optuna.load_study(study_name=name, storage=storage, sampler=_sampler(workload))
            start = time.perf_counter()
            study.optimize(workloads.objective, n_trials=trials)
            return time.perf_counter() - start, 0.0
        return _time_processes(loc, name, workload, trials, workers)
    finally:
        storage.delete_study(study_id)


def _time_read(loc: Location, storage: BaseStorage, name: str, trials: int) -> float:
    study = optuna.load_study(study_name=name, storage=storage)
    study.add_trials(workloads.finished_trials(trials))
    start = time.perf_counter()
    reader = open_any(loc) if loc.multi_process else storage
    read = reader.get_all_trials(reader.get_study_id_from_name(name), deepcopy=False)
    seconds = time.perf_counter() - start
    if len(read) != trials:
        raise osk.StorageKitError(f"{loc.shown} returned {len(read)} of {trials} trials")
    return seconds


def _sampler(workload: str) -> optuna.samplers.BaseSampler:
    return workloads.sampler("tpe" if workload == "tpe" else "random")


def _time_processes(
    loc: Location, name: str, workload: str, trials: int, workers: int
) -> tuple[float, float]:
    """Start the workers, wait until every one is ready, then time from the go to the last
    exit; return that and the start-up time."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(workers + 1)
    go = ctx.Event()
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(loc.text, name, workload, share, ready, go))
        for share in shares
    ]
    launched = time.perf_counter()
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=300)
        start = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - start
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise osk.StorageKitError(
            f"{len(failed)} of {workers} worker processes failed on {loc.shown} "
            f"(exit codes {failed}); run with --workers 1 to see the error"
        )
    return seconds, start - launched


def _worker(location: str, name: str, workload: str, trials: int, ready: Any, go: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_any(location)
    study = optuna.load_study(study_name=name, storage=storage, sampler=_sampler(workload))
    ready.wait(timeout=300)
    go.wait(timeout=300)
    study.optimize(workloads.objective, n_trials=trials)


def report(results: Sequence[BenchResult], *, trials: int, workers: int) -> dict[str, Any]:
    """The machine-readable result: every measurement with its ratio to the reference.

    ``ratio_to_memory`` is the storage's seconds divided by the reference's seconds for the
    same workload and number of trials (so 2.0 means it took twice as long as memory).
    """
    reference = {r.workload: r.seconds for r in results if r.role == "reference"}
    rows = []
    for r in results:
        row = dataclasses.asdict(r)
        row["trials_per_second"] = r.trials_per_second
        row["ratio_to_memory"] = r.seconds / reference[r.workload]
        rows.append(row)
    return {
        "osk_version": osk.__version__,
        "optuna_version": optuna.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "trials": trials,
        "workers": workers,
        "reference": REFERENCE_URL,
        "results": rows,
    }
