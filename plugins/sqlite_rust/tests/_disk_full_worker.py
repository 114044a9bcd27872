"""Fill a small file system with a study: `python _disk_full_worker.py fill DIR WRITE_BEHIND`.

Run by test_sqlite_disk_full.py inside a private mount namespace where DIR is a small tmpfs.
It writes a ballast file, then runs trials until a write fails, checks the error, has another
process read back every acknowledged trial (``check``), frees the ballast, retries the failed
write and has another process write more trials (``more``). It prints a JSON report.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna

import optuna_storage_kit as osk
from osk_sqlite import DiskFullError

BLOB = "b" * 3000  # a user attribute big enough to fill the disk in a few dozen trials


def _url(directory: str, *options: str) -> str:
    return f"optuna+sqlite:///{directory}/full.db" + ("?" + "&".join(options) if options else "")


def _other(*args: str) -> Any:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check(directory: str) -> None:
    """Print every trial as ``[number, state, value, x]``, read read-only."""
    storage = osk.open_storage(_url(directory, "mode=ro"))
    trials = storage.get_all_trials(storage.get_study_id_from_name("s"), deepcopy=False)
    print(json.dumps([[t.number, t.state.name, t.value, t.params.get("x")] for t in trials]))


def more(directory: str) -> None:
    """Run 5 more trials in this process (the store opens and takes writes again)."""
    study = optuna.load_study(study_name="s", storage=_url(directory))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    print(json.dumps(len(study.trials)))


def fill(directory: str, write_behind: str) -> None:
    ballast = Path(directory, "ballast")
    ballast.write_bytes(b"\0" * 192 * 1024)
    url = _url(directory, f"write_behind={write_behind}", "flush_interval=3600")
    study = optuna.create_study(study_name="s", storage=url)
    acknowledged: list[list[Any]] = []
    failed: DiskFullError | None = None
    trial = None
    for _ in range(100_000):
        try:
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            trial.set_user_attr("blob", BLOB)
            study.tell(trial, x)
        except DiskFullError as error:
            failed = error
            break
        acknowledged.append([trial.number, "COMPLETE", x, x])
    assert failed is not None, "the disk never filled up"
    report: dict[str, Any] = {
        "acknowledged": len(acknowledged),
        "error": str(failed),
        "errno_is_enospc": failed.errno == errno.ENOSPC,
        "is_oserror": isinstance(failed, OSError),
    }
    stored = _other("check", directory)
    report["intact"] = stored[: len(acknowledged)] == acknowledged
    report["unacknowledged_stored_as_complete"] = [
        t for t in stored[len(acknowledged) :] if t[1] == "COMPLETE"
    ]
    ballast.unlink()  # space again
    if trial is not None and trial.number == len(acknowledged):  # ask() itself succeeded
        study.tell(trial, 0.5)  # the failed write, retried: its buffered writes kept
        report["retried"] = True
    report["after_more"] = _other("more", directory)
    stored = _other("check", directory)
    report["final"] = [t[1] for t in stored]
    report["final_intact"] = stored[: len(acknowledged)] == acknowledged
    print(json.dumps(report))


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    command, directory = sys.argv[1:3]
    if command == "fill":
        fill(directory, sys.argv[3])
    elif command == "check":
        check(directory)
    else:
        more(directory)
