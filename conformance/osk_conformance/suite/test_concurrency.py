"""Category 3, concurrency: threads and processes on one study, each through its own storage.

Trial numbers must be unique and contiguous, no trial lost or duplicated, every trial finished,
enqueued trials popped exactly once, and no storage exception may reach the user.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from osk_conformance._pool import ProcessPool
from osk_conformance._target import Target
from osk_conformance._workers import _Recorder

ENQUEUED_PER_WORKER = 3
TRIAL_SECONDS = 0.02  # enqueued trials take a moment, as real ones do, so that claims overlap


def _per_worker(quick: bool) -> int:
    return 8 if quick else 25


def _check_study(storage: BaseStorage, name: str, ran: list[int], expected: int) -> None:
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    numbers = sorted(t.number for t in trials)
    assert len(numbers) == len(set(numbers)), f"trial numbers reused: {numbers}"
    assert numbers == list(range(expected)), f"trial numbers not 0..{expected - 1}: {numbers}"
    assert len({t._trial_id for t in trials}) == expected, "trial ids reused"
    unfinished = [t.number for t in trials if t.state != TrialState.COMPLETE]
    assert not unfinished, f"trials not COMPLETE: {unfinished}"
    assert sorted(ran) == numbers, "the objective did not run exactly once per trial"


def _enqueue(storage: BaseStorage, name: str, n: int) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=name)
    for i in range(n):
        study.enqueue_trial({"x": i / 10, "y": 0.0, "z": 0.0})
    return study


def _run_threads(
    n: int,
    make_storage: Callable[[], BaseStorage],
    name: str,
    n_trials: int,
    seconds: float = 0.0,
) -> list[int]:
    barrier = threading.Barrier(n)

    def work() -> list[int]:
        storage = make_storage()
        recorder = _Recorder(seconds)
        study = optuna.load_study(study_name=name, storage=storage)
        barrier.wait()
        study.optimize(recorder, n_trials=n_trials, catch=())
        return recorder.ran

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(work) for _ in range(n)]
        return [number for f in futures for number in f.result()]


def _run_processes(
    pool: ProcessPool,
    target: Target,
    directory: Path,
    name: str,
    n_trials: int,
    seconds: float = 0.0,
) -> list[int]:
    results = pool.optimize(target.spec, directory, name, n_trials, seconds)
    errors = [r["error"] for r in results if r["error"]]
    assert not errors, f"a storage exception reached the user: {errors[0]}"
    return [number for r in results for number in r["ran"]]


@pytest.mark.osk_requires("thread_safe")
@pytest.mark.parametrize("sharing", ["shared-object", "own-object"])
def test_threads_optimize_one_study(
    osk_target: Target,
    osk_open: Callable[..., BaseStorage],
    osk_quick: bool,
    osk_workers: int,
    sharing: str,
) -> None:
    shared = osk_open()
    name = f"osk-{uuid.uuid4().hex}"
    optuna.create_study(storage=shared, study_name=name)
    make = (lambda: shared) if sharing == "shared-object" else osk_open
    n_trials = _per_worker(osk_quick)
    ran = _run_threads(osk_workers, make, name, n_trials)
    _check_study(osk_open(), name, ran, osk_workers * n_trials)


@pytest.mark.osk_requires("thread_safe")
def test_threads_pop_enqueued_once(osk_open: Callable[..., BaseStorage], osk_workers: int) -> None:
    name = f"osk-{uuid.uuid4().hex}"
    n = osk_workers * ENQUEUED_PER_WORKER
    _enqueue(osk_open(), name, n)
    ran = _run_threads(osk_workers, osk_open, name, ENQUEUED_PER_WORKER, TRIAL_SECONDS)
    _check_study(osk_open(), name, ran, n)
    xs = sorted(
        t.params["x"] for t in optuna.load_study(study_name=name, storage=osk_open()).trials
    )
    assert xs == [i / 10 for i in range(n)], "an enqueued trial ran twice or never"


@pytest.mark.osk_requires("multi_process")
def test_processes_optimize_one_study(
    osk_target: Target,
    osk_open: Callable[..., BaseStorage],
    osk_dir: Path,
    osk_quick: bool,
    osk_process_pool: ProcessPool,
) -> None:
    name = f"osk-{uuid.uuid4().hex}"
    optuna.create_study(storage=osk_open(), study_name=name)
    n_trials = _per_worker(osk_quick)
    ran = _run_processes(osk_process_pool, osk_target, osk_dir, name, n_trials)
    _check_study(osk_open(), name, ran, osk_process_pool.size * n_trials)


@pytest.mark.osk_requires("multi_process")
def test_processes_pop_enqueued_once(
    osk_target: Target,
    osk_open: Callable[..., BaseStorage],
    osk_dir: Path,
    osk_process_pool: ProcessPool,
) -> None:
    name = f"osk-{uuid.uuid4().hex}"
    n = osk_process_pool.size * ENQUEUED_PER_WORKER
    _enqueue(osk_open(), name, n)
    ran = _run_processes(
        osk_process_pool, osk_target, osk_dir, name, ENQUEUED_PER_WORKER, TRIAL_SECONDS
    )
    _check_study(osk_open(), name, ran, n)
    study = optuna.load_study(study_name=name, storage=osk_open())
    assert sorted(t.params["x"] for t in study.trials) == [i / 10 for i in range(n)]
