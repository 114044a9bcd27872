"""Workloads run by the concurrency, durability and performance tests (picklable, top level)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import Trial

from optuna_storage_kit.toolkit import workloads
from osk_conformance._target import open_spec

__all__ = ["counters", "optimize", "optimize_in_process", "study_for"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def optimize(
    storage: BaseStorage,
    study_name: str,
    n_trials: int,
    sampler: str = "random",
    objective: Callable[[Trial], float] = workloads.objective,
) -> optuna.Study:
    """Load ``study_name`` (creating it if need be) and run ``n_trials``, errors propagating."""
    study = study_for(storage, study_name, sampler)
    study.optimize(objective, n_trials=n_trials, catch=())
    return study


def study_for(storage: BaseStorage, study_name: str, sampler: str = "random") -> optuna.Study:
    """Create or load ``study_name`` with the standard workload's seeded ``"random"`` or
    ``"tpe"`` sampler."""
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=True,
        sampler=workloads.sampler(sampler),
    )


class _Recorder:
    """An objective that records which trial numbers it ran (to catch double pops)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.ran: list[int] = []
        self.seconds = seconds

    def __call__(self, trial: Trial) -> float:
        self.ran.append(trial.number)
        if self.seconds:
            time.sleep(self.seconds)  # a trial that takes a moment, so claims overlap
        return workloads.objective(trial)


def optimize_in_process(
    spec: str,
    directory: str,
    study_name: str,
    n_trials: int,
    barrier: Any = None,
    seconds: float = 0.0,
) -> dict[str, Any]:
    """A worker process: open the store, wait for the others, optimize, report."""
    storage = open_spec(spec, directory)
    recorder = _Recorder(seconds)
    study = optuna.load_study(study_name=study_name, storage=storage)
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    error = None
    try:
        study.optimize(recorder, n_trials=n_trials, catch=())
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    end = time.perf_counter()
    return {"ran": recorder.ran, "error": error, "start": start, "end": end}


def counters(storage: BaseStorage) -> dict[str, int]:
    """The backend's deterministic counters, or ``{}``."""
    get = getattr(storage, "osk_counters", None)
    return dict(get()) if callable(get) else {}
