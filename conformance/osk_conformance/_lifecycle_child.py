"""Child processes of the lifecycle tests: write a study as users do, then end in one way.

``python -m osk_conformance._lifecycle_child SCENARIO SPEC DIRECTORY STUDY [ARGS]`` (the kit
forks it from its zygote, which runs it the same way). Every storage call that returned is
acknowledged on stdout (see :mod:`osk_conformance._lifecycle`). Scenarios:

- ``exit-return``: study attributes, a finished trial, a trial left RUNNING; return normally
  without ``close()``;
- ``exit-close``: the same, then ``storage.close()`` (prints ``no-close`` if there is none);
- ``exit-gc``: the same, then every reference dropped and ``gc.collect()``; prints
  ``collected`` and stays alive until a line arrives on stdin;
- ``exit-thread``: the same, then ``sys.exit()`` while a non-daemon thread keeps reporting;
- ``exit-fork``: a trial left RUNNING, then a child started with the ``fork`` start method
  writes through the inherited storage object and exits; prints ``forked``;
- ``hold``: a trial left RUNNING, prints ``written``, waits for a line on stdin;
- ``tell NUMBER VALUE``: load the study, print what trial NUMBER holds (``seen``), tell it;
- ``inspect``: open with ``mode=ro``, print every study (``view``), try one write (``write``).
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
import threading
import time
import weakref
from collections.abc import Callable

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from osk_conformance._lifecycle import Writer, emit, store_record, study_record
from osk_conformance._target import open_spec

Scenario = Callable[[str, str, str, list[str]], None]


def _written(spec: str, directory: str, study: str) -> Writer:
    writer = Writer(open_spec(spec, directory), study)
    writer.study_attrs("main")
    writer.finished("done")
    writer.running("open")
    return writer


def exit_return(spec: str, directory: str, study: str, args: list[str]) -> None:
    _written(spec, directory, study)


def exit_close(spec: str, directory: str, study: str, args: list[str]) -> None:
    storage = _written(spec, directory, study).storage
    close = getattr(storage, "close", None)
    if not callable(close):
        emit("no-close")
        return
    close()
    emit("closed")


def _drop(spec: str, directory: str, study: str) -> weakref.ref[BaseStorage]:
    return weakref.ref(_written(spec, directory, study).storage)


def exit_gc(spec: str, directory: str, study: str, args: list[str]) -> None:
    ref = _drop(spec, directory, study)
    gc.collect()
    emit("collected", {"collected": ref() is None})
    sys.stdin.readline()


def exit_thread(spec: str, directory: str, study: str, args: list[str]) -> None:
    writer = _written(spec, directory, study)
    trial = writer.running("thread")

    def keep_reporting() -> None:
        for i in range(40):
            time.sleep(0.005)
            trial.report(i / 100, 10 + i)
            writer.reported(trial.number, 10 + i, i / 100)
        writer.finished("late")

    threading.Thread(target=keep_reporting, daemon=False).start()
    emit("exiting")
    sys.exit(0)


def _forked(storage: BaseStorage, study: str) -> None:
    writer = Writer(storage, study)
    writer.finished("fork-done")
    writer.running("fork-open")


def exit_fork(spec: str, directory: str, study: str, args: list[str]) -> None:
    writer = Writer(open_spec(spec, directory), study)
    writer.study_attrs("main")
    writer.running("before-fork")
    child = multiprocessing.get_context("fork").Process(
        target=_forked, args=(writer.storage, study)
    )
    child.start()
    child.join()
    emit("forked", {"exitcode": child.exitcode})


def hold(spec: str, directory: str, study: str, args: list[str]) -> None:
    writer = Writer(open_spec(spec, directory), study)
    writer.study_attrs("main")
    writer.running("visible")
    emit("written")
    sys.stdin.readline()


def tell(spec: str, directory: str, study: str, args: list[str]) -> None:
    number, value = int(args[0]), float(args[1])
    storage = open_spec(spec, directory)
    loaded = optuna.load_study(study_name=study, storage=storage)
    emit("seen", study_record(storage, study))
    loaded.tell(number, value)
    emit("ack", {"op": "state", "trial": number, "state": "COMPLETE", "values": [value]})


def inspect(spec: str, directory: str, study: str, args: list[str]) -> None:
    storage = open_spec(spec, directory, mode="ro")
    emit("view", store_record(storage, None if study == "*" else [study]))
    try:
        storage.create_new_study([StudyDirection.MINIMIZE], "osk-written-by-inspection")
    except Exception as err:
        emit("write", {"refused": True, "error": type(err).__name__})
    else:
        emit("write", {"refused": False})


SCENARIOS: dict[str, Scenario] = {
    "exit-return": exit_return,
    "exit-close": exit_close,
    "exit-gc": exit_gc,
    "exit-thread": exit_thread,
    "exit-fork": exit_fork,
    "hold": hold,
    "tell": tell,
    "inspect": inspect,
}


def main(argv: list[str]) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scenario, spec, directory, study, *args = argv
    SCENARIOS[scenario](spec, directory, study, args)


if __name__ == "__main__":
    main(sys.argv[1:])
