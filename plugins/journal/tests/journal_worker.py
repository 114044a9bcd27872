"""A worker process for the journal tests (run as a script, never collected by pytest).

    python journal_worker.py optimize URL STUDY N_TRIALS [REPORT_FILE]
    python journal_worker.py optuna-optimize PATH STUDY N_TRIALS LOCK  # Optuna's JournalStorage
    python journal_worker.py hang URL STUDY                         # start a trial and block
    python journal_worker.py ask-and-wait URL STUDY  # ask, write, print, wait for a stdin line
    python journal_worker.py exit-variant URL HOW    # write a study "v", then end the HOW way

With ``OSK_TEST_START_AT`` (a Unix time) set, workers wait until then, so that several start
writing at the same moment. ``optimize`` appends the number of every trial whose ``tell``
returned to REPORT_FILE, so a test that kills the worker knows which results must survive.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import threading
import time

import optuna

import optuna_storage_kit as osk


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", 0, 10)
    trial.set_user_attr("pid", os.getpid())
    trial.report(x, 0)
    return x * x + y


def optimize(storage: optuna.storages.BaseStorage, study_name: str, n: int, report: str) -> None:
    study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True)
    out = open(report, "a", buffering=1) if report else None  # noqa: SIM115
    for _ in range(n):
        trial = study.ask()
        value = objective(trial)
        study.tell(trial, value)
        if out is not None:
            out.write(f"{trial.number} {value!r}\n")


def ask_and_wait(storage: optuna.storages.BaseStorage, study_name: str) -> None:
    """Ask a trial and write to it; leave it RUNNING and return normally (no close())."""
    study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True)
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("note", "hello")
    trial.report(0.3, 1)
    print(json.dumps({"number": trial.number, "x": x}), flush=True)
    sys.stdin.readline()


def write_study(storage: optuna.storages.BaseStorage) -> None:
    """Study "v": trial 0 left RUNNING with a param, attributes and a report; trial 1 told."""
    study = optuna.create_study(storage=storage, study_name="v")
    running = study.ask()
    running.suggest_float("x", 0, 1)
    running.set_user_attr("u", 1)
    storage.set_trial_system_attr(running._trial_id, "s", 2)
    running.report(0.5, 1)
    done = study.ask()
    done.suggest_float("x", 0, 1)
    study.tell(done, 1.0)


def exit_variant(url: str, how: str) -> None:
    """The ways a process ends with a storage open (the kit's lifecycle category)."""
    storage = osk.open_storage(url)
    if how == "return":
        write_study(storage)
    elif how == "close":
        write_study(storage)
        storage.close()
    elif how == "gc":  # collected while the process goes on
        write_study(storage)
        del storage
        gc.collect()
        time.sleep(0.2)
    elif how == "sys-exit-thread":  # a non-daemon thread still writing at sys.exit()
        threading.Thread(target=write_study, args=(storage,)).start()
        sys.exit(0)
    elif how == "fork":  # a multiprocessing child started with fork writes and exits
        child = multiprocessing.get_context("fork").Process(target=write_study, args=(storage,))
        child.start()
        child.join()
        sys.exit(child.exitcode)
    else:
        raise SystemExit(f"unknown exit variant {how!r}")


def main(argv: list[str]) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start_at = float(os.environ.get("OSK_TEST_START_AT", "0"))
    time.sleep(max(0.0, start_at - time.time()))
    command = argv[0]
    if command == "optimize":
        url, study_name, n = argv[1], argv[2], int(argv[3])
        report = argv[4] if len(argv) > 4 else ""
        optimize(osk.open_storage(url), study_name, n, report)
    elif command == "optuna-optimize":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        lock = JournalFileOpenLock(argv[1]) if argv[4] == "open" else None
        storage = JournalStorage(JournalFileBackend(argv[1], lock_obj=lock))
        optimize(storage, argv[2], int(argv[3]), "")
    elif command == "hang":
        storage = osk.open_storage(argv[1], heartbeat_interval=1)
        study = optuna.create_study(storage=storage, study_name=argv[2], load_if_exists=True)
        trial = study.ask()
        storage.record_heartbeat(trial._trial_id)
        print(trial._trial_id, flush=True)
        time.sleep(600)
    elif command == "exit-variant":
        exit_variant(argv[1], argv[2])
    elif command == "ask-and-wait":
        ask_and_wait(osk.open_storage(argv[1]), argv[2])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
