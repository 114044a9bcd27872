"""Code run in worker processes by the multi-process tests (forked from the test process)."""

from __future__ import annotations

import os
import traceback
from typing import Any

import optuna


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_float("y", -10, 10)
    z = trial.suggest_int("z", 0, 9)
    trial.set_user_attr("pid", os.getpid())
    return x * x + y * y + z


def run_worker(storage_url: str, study_name: str, n_trials: int, results: Any, kind: str) -> None:
    """Optimize ``n_trials`` on the shared study; put ("ok", pid) or ("error", text)."""
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
        results.put(("ok", os.getpid()))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def run_processes(specs: list[tuple[str, str, int, str]], timeout: float = 150) -> list[Any]:
    """Start one forked process per (url, study, n_trials, kind); return their results."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=run_worker, args=(*spec[:3], results, spec[3])) for spec in specs]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    results.close()
    results.join_thread()
    return out
