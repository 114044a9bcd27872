"""Worker processes of the tests: `python _workers.py COMMAND URL STUDY ARG`.

Anything that opens a test file with another SQLite library (Optuna's RDBStorage through
Python's sqlite3 module, or sqlite3 itself) runs here, in a process of its own: two copies of
SQLite in one process do not see each other's POSIX locks, which SQLite documents as a way to
corrupt a database (see the README).
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time
from typing import Any

import optuna

import optuna_storage_kit


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", 0, 10)
    trial.set_user_attr("pid_free", True)
    return x * x + y


def optimize(url: str, study_name: str, n_trials: int) -> int:
    """Run trials in a study; return how many this process ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=url,
        sampler=optuna.samplers.RandomSampler(),
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=n_trials)
    return n_trials


def run_then_hang(url: str, study_name: str, done: int) -> None:
    """Finish ``done`` trials, then start one that never ends (the test kills us)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_storage_kit.open_storage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name=study_name, storage=storage)

    def hang_last(trial: optuna.Trial) -> float:
        value = objective(trial)
        if trial.number >= done:
            trial.set_user_attr("hung", True)
            while True:
                time.sleep(0.05)
        return value

    study.optimize(hang_last, n_trials=done + 1)


def comparable(t: optuna.trial.FrozenTrial) -> list[Any]:
    """A JSON-able picture of a trial, equal for equal trials whichever storage read it."""
    from optuna.distributions import distribution_to_json

    def time_text(d: Any) -> str | None:
        return None if d is None else d.isoformat()

    return [
        t.number,
        t.state.name,
        t.values,
        t.params,
        {k: distribution_to_json(v) for k, v in t.distributions.items()},
        t.user_attrs,
        t.system_attrs,
        {str(k): (None if math.isnan(v) else v) for k, v in t.intermediate_values.items()},
        time_text(t.datetime_start),
        time_text(t.datetime_complete),
    ]


def dump(url: str, name: str) -> dict[str, Any]:
    """What a storage says about a study, as JSON."""
    study = optuna.load_study(study_name=name, storage=url)
    result = {
        "directions": [d.name for d in study.directions],
        "user_attrs": study.user_attrs,
        "system_attrs": study._storage.get_study_system_attrs(study._study_id),
        "trials": [comparable(t) for t in study.get_trials(deepcopy=False)],
    }
    return json.loads(json.dumps(result))


def query(path: str, sql: str) -> list[Any]:
    """Rows of one statement, or (for a JSON list of statements) a list of row lists."""
    many = sql.startswith("[")
    statements = json.loads(sql) if many else [sql]
    with sqlite3.connect(path) as conn:
        results = [[list(r) for r in conn.execute(s).fetchall()] for s in statements]
        conn.commit()
    conn.close()
    return results if many else results[0]


if __name__ == "__main__":
    command, url, name, arg = sys.argv[1:5]
    if command == "optimize":
        optimize(url, name, int(arg))
    elif command == "hang":
        run_then_hang(url, name, int(arg))
    elif command == "dump":
        print(json.dumps(dump(url, name)))
    elif command == "query":
        print(json.dumps(query(url, arg)))
    elif command == "create":
        optuna.create_study(study_name=name, storage=url)
    elif command == "set_system_attr":
        study = optuna.load_study(study_name=name, storage=url)
        study._storage.set_study_system_attr(study._study_id, "k", json.loads(arg))
    else:
        raise SystemExit(f"unknown command {command!r}")
