"""A process that asks for a trial and ends some way: `python _lifecycle_worker.py URL HOW`.

It creates study "s" (or loads it), finishes trial 0, then asks trial 1 and gives it params,
user and system attributes and intermediate values, which the storage buffers (the URL sets
an hour-long ``flush_interval``, so no timed flush helps). Then it ends as ``HOW`` says:

* ``exit``: returns normally, never calling ``close()``;
* ``close``: calls ``close()``, then returns;
* ``gc``: drops every reference to the storage, collects it, prints ``collected`` and waits
  (alive) for a line on stdin before it returns;
* ``wait``: commits its buffered writes, prints ``waiting`` and waits (alive, with its
  connection open) for a line on stdin;
* ``thread``: a non-daemon thread does the writing while the main thread calls ``sys.exit()``;
* ``fork``: keeps a running trial of its own with buffered writes, and a child started with
  the ``fork`` start method asks trial 1 and exits; the parent then writes more to its own
  trial (2) and returns.

It prints (JSON) what it wrote: a list of ``{"number": ..., "params": ..., ...}``.

``python _lifecycle_worker.py PATH hold`` keeps the file open with Python's own SQLite (in a
process of its own, see _workers.py) until a line arrives on stdin.
``python _lifecycle_worker.py URL look`` prints every trial of study "s" in that form (with
its state and values); ``... URL tell NUMBER VALUE`` prints trial NUMBER, then tells it.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import sys
import threading
import time
import weakref
from typing import Any

import optuna

import optuna_storage_kit as osk


def _write_running_trial(study: optuna.Study, tag: str) -> dict[str, Any]:
    """Ask a trial and give it buffered writes of every kind; return what was written."""
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    n = trial.suggest_int("n", 1, 5)
    c = trial.suggest_categorical("c", ["a", "b"])
    trial.set_user_attr("note", f"hello from {tag}")
    study._storage.set_trial_system_attr(trial._trial_id, "sys", [1, tag])
    trial.report(0.3, 1)
    trial.report(0.2, 2)
    return {
        "number": trial.number,
        "params": {"x": x, "n": n, "c": c},
        "user_attrs": {"note": f"hello from {tag}"},
        "system_attrs": {"sys": [1, tag]},
        "intermediate_values": {"1": 0.3, "2": 0.2},
    }


def _open(url: str) -> tuple[osk.KitStorage, optuna.Study]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = osk.open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
    return storage, study


def _finish_one(study: optuna.Study) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, 1.0)


def _child(storage: osk.KitStorage, out: Any) -> None:
    study = optuna.load_study(study_name="s", storage=storage)
    out.put(_write_running_trial(study, "child"))


def _seen(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": trial.values,
        "params": trial.params,
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
        "intermediate_values": {str(k): v for k, v in trial.intermediate_values.items()},
    }


def look(url: str) -> None:
    _, study = _open(url)
    print(json.dumps([_seen(t) for t in study.get_trials(deepcopy=False)]), flush=True)


def tell(url: str, number: int, value: float) -> None:
    _, study = _open(url)
    trial = study.get_trials(deepcopy=False)[number]
    print(json.dumps(_seen(trial)), flush=True)
    study.tell(number, value)


def hold(path: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
    print("holding", flush=True)
    sys.stdin.readline()
    conn.close()


def main(url: str, how: str) -> None:
    storage, study = _open(url)
    _finish_one(study)
    if how == "fork":
        parent = _write_running_trial(study, "parent")  # buffered when the child forks
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        child = context.Process(target=_child, args=(storage, out))
        child.start()
        written = out.get(timeout=120)
        child.join(120)
        assert child.exitcode == 0, child.exitcode
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(
            study._study_id, parent["number"]
        )
        study._storage.set_trial_user_attr(trial_id, "after_fork", True)
        parent["user_attrs"]["after_fork"] = True
        print(json.dumps([written, parent]), flush=True)
        return
    if how == "thread":
        results: list[dict[str, Any]] = []

        def late_writer() -> None:
            time.sleep(0.5)  # the main thread is in sys.exit() by now
            results.append(_write_running_trial(study, "thread"))
            print(json.dumps(results), flush=True)

        threading.Thread(target=late_writer, daemon=False).start()
        sys.exit(0)
    written = _write_running_trial(study, how)
    print(json.dumps([written]), flush=True)
    if how == "close":
        storage.close()
    elif how == "wait":  # alive, its connection open, its writes committed but in the WAL
        storage.inner._flush_buffers()  # type: ignore[attr-defined]
        print("waiting", flush=True)
        sys.stdin.readline()
    elif how == "gc":
        inner = weakref.ref(storage.inner)
        del storage, study
        gc.collect()
        assert inner() is None, "the storage is still referenced: the test would prove nothing"
        print("collected", flush=True)
        sys.stdin.readline()  # alive until the test has looked
    else:
        assert how == "exit", how


if __name__ == "__main__":
    if sys.argv[2] == "hold":
        hold(sys.argv[1])
    elif sys.argv[2] == "look":
        look(sys.argv[1])
    elif sys.argv[2] == "tell":
        tell(sys.argv[1], int(sys.argv[3]), float(sys.argv[4]))
    else:
        main(*sys.argv[1:3])
