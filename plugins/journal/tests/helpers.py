"""Shared helpers for the journal tests."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "journal_worker.py")


def url(path: str, **options: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"optuna+journal:///{path}" + (f"?{query}" if query else "")


def optuna_journal(path: str, lock: str = "symlink") -> JournalStorage:
    """Optuna's own JournalStorage on ``path`` (the reference implementation)."""
    lock_obj = JournalFileOpenLock(path) if lock == "open" else None
    return JournalStorage(JournalFileBackend(path, lock_obj=lock_obj))


def worker(
    *args: str, start_at: float | None = None, stdin: bool = False
) -> subprocess.Popen[str]:
    """Run ``journal_worker.py`` with ``args``; ``start_at``: Unix time to begin working;
    ``stdin``: give it a pipe to read from."""
    env = dict(os.environ)
    if start_at is not None:
        env["OSK_TEST_START_AT"] = str(start_at)
    return subprocess.Popen(
        [sys.executable, WORKER, *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin else None,
        text=True,
        env=env,
    )


def snapshot_of(storage: BaseStorage) -> dict[str, object]:
    """Everything a storage shows, for comparing two readers of one journal."""
    studies = {}
    for study in storage.get_all_studies():
        sid = study._study_id
        studies[sid] = {
            "name": study.study_name,
            "directions": list(study.directions),
            "user": study.user_attrs,
            "system": study.system_attrs,
            "trials": storage.get_all_trials(sid),
        }
    return studies


def soon(seconds: float = 4.0) -> float:
    """A moment a little in the future, for workers to start writing together."""
    return time.time() + seconds


NOBODY = 65534


def as_nobody(scenario: Callable[..., None], *args: Any) -> None:
    """Run ``scenario(*args)`` as an unprivileged user: root may write any file, so as root
    (CI) it runs in a forked child that drops to ``nobody`` first; its failure fails here."""
    if os.geteuid() != 0:
        scenario(*args)
        return
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    child = context.Process(target=_unprivileged, args=(scenario, args, errors))
    child.start()
    child.join(120)
    assert child.exitcode == 0, errors.get(timeout=5) if not errors.empty() else child


def _unprivileged(scenario: Callable[..., None], args: tuple[Any, ...], errors: Any) -> None:
    try:
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        scenario(*args)
    except BaseException:
        errors.put(traceback.format_exc())
        raise
