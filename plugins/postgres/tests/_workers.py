"""Code run in worker processes by the multi-process tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from typing import Any

import optuna


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_float("y", -10, 10)
    z = trial.suggest_int("z", 0, 9)
    trial.set_user_attr("pid", os.getpid())
    return x * x + y * y + z


def run_worker(storage_url: str, study_name: str, n_trials: int, kind: str) -> tuple[str, Any]:
    """Optimize ``n_trials`` on the shared study; return ("ok", pid) or ("error", text)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if kind == "rdb":
            storage: Any = optuna.storages.RDBStorage(storage_url)
        else:
            import optuna_storage_kit as osk

            storage = osk.open_storage(storage_url)
        study = optuna.load_study(
            study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler()
        )
        study.optimize(objective, n_trials=n_trials)
        if kind != "rdb":
            storage.inner.close()
        return ("ok", os.getpid())
    except BaseException:
        return ("error", traceback.format_exc())


def run_processes(specs: list[tuple[str, str, int, str]], timeout: float = 150) -> list[Any]:
    """Start one worker process per (url, study, n_trials, kind); return their results.

    The workers are forks of a fresh interpreter (this file run as a script), not of the test
    process: that one holds the threads of earlier tests' storages (and pytest's), and a lock
    one of them held at the fork would stay held in the child.
    """
    run = subprocess.run(
        [sys.executable, __file__, json.dumps(specs), str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, f"the workers' parent failed: {run.stderr[-3000:]}"
    return [tuple(result) for result in json.loads(lines[-1])]


def _fork_workers(specs: list[tuple[str, str, int, str]], timeout: float) -> list[Any]:
    import multiprocessing

    # Imports only (no storage, no thread), so that every child starts warm.
    import optuna.storages._rdb.storage  # noqa: F401
    import psycopg2  # noqa: F401

    import optuna_storage_kit as osk
    import osk_postgres._storage  # noqa: F401

    osk.get_registry().backends()

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_put, args=(results, *spec)) for spec in specs]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    results.close()
    results.join_thread()
    return out


def _put(results: Any, url: str, study: str, n: int, kind: str) -> None:
    results.put(run_worker(url, study, n, kind))


if __name__ == "__main__":
    print(json.dumps(_fork_workers(json.loads(sys.argv[1]), float(sys.argv[2]))))
