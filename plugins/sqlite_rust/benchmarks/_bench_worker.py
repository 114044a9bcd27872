"""Worker process for the benchmarks: `python _bench_worker.py COMMAND URL STUDY N`.

RDBStorage runs in processes of its own (two SQLite libraries must not share a file within one
process); so does the timed breakdown (its timers would slow the ratio runs). Prints one JSON
object.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

import optuna

import optuna_storage_kit  # noqa: F401  (lets Optuna accept optuna+ URLs)
from optuna_storage_kit.toolkit import workloads


def optimize(url: str, study: str, n: int, start_at: float) -> dict[str, float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=url, sampler=optuna.samplers.RandomSampler())
    while time.time() < start_at:  # all workers start together
        time.sleep(0.001)
    t0 = time.perf_counter()
    s.optimize(workloads.objective, n_trials=n)
    return {"seconds": time.perf_counter() - t0, "end": time.time(), "trials": n}


def build_big(path: str, study: str, n: int) -> dict[str, float]:
    """Write an n-trial study in RDBStorage's format, fast (one transaction)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name=study, storage=f"sqlite:///{path}")
    dist = json.dumps(
        {
            "name": "FloatDistribution",
            "attributes": {"step": None, "low": -1.0, "high": 1.0, "log": False},
        }
    )
    conn = sqlite3.connect(path)
    with conn:
        (study_id,) = conn.execute(
            "SELECT study_id FROM studies WHERE study_name=?", (study,)
        ).fetchone()
        when = "2024-01-01 00:00:00.000000"
        conn.executemany(
            "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
            "datetime_complete) VALUES (?, ?, ?, 'COMPLETE', ?, ?)",
            ((i + 1, i, study_id, when, when) for i in range(n)),
        )
        conn.executemany(
            "INSERT INTO trial_values (trial_id, objective, value, value_type) "
            "VALUES (?, 0, ?, 'FINITE')",
            ((i + 1, float(i % 97)) for i in range(n)),
        )
        conn.executemany(
            "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
            "VALUES (?, ?, ?, ?)",
            ((i + 1, p, 0.5, dist) for i in range(n) for p in ("x", "y", "z")),
        )
    conn.close()
    return {"trials": n}


def load_all(url: str, study: str) -> dict[str, float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    s = optuna.load_study(study_name=study, storage=url)
    first = s._storage.get_all_trials(s._study_id, deepcopy=False)
    t1 = time.perf_counter()
    s._storage.get_all_trials(s._study_id, deepcopy=False)
    t2 = time.perf_counter()
    return {"first": t1 - t0, "second": t2 - t1, "trials": len(first)}


if __name__ == "__main__":
    command, url, study, n = sys.argv[1:5]
    if command == "optimize":
        result = optimize(url, study, int(n), float(sys.argv[5]))
    elif command == "build_big":
        result = build_big(url, study, int(n))
    elif command == "load_all":
        result = load_all(url, study)
    elif command == "breakdown":  # STUDY is unused: the breakdown makes its own
        from optuna_storage_kit.toolkit.breakdown import breakdown

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = lambda: optuna.samplers.RandomSampler(seed=0)  # noqa: E731
        core = "_native" if url.startswith("optuna+sqlite") else None  # the Rust core
        breakdown(url, sampler, 50, workloads.objective, core_attribute=core)  # warm up
        result = breakdown(url, sampler, int(n), workloads.objective, core_attribute=core)
    else:
        raise SystemExit(f"unknown command {command!r}")
    result["pid"] = os.getpid()
    print(json.dumps(result))
