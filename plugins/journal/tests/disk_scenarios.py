"""Journal writes on file systems that fail for real (run as a script, never collected).

    unshare -m python disk_scenarios.py SCENARIO WORKDIR

Runs as root in a private mount namespace (``unshare -m``), so its mounts vanish with it:

* ``disk-full``: a 1 MiB tmpfs; writes until one fails for lack of space.
* ``fsync-next-write``, ``fsync-close``, ``fsync-commit``, ``fsync-exit``, ``fsync-gc``: an ext4
  file system on a loop device whose image lives on a 4 MiB tmpfs (thin provisioning). Writes
  land in the page cache and succeed; the fsync that writes them back finds the image's tmpfs
  full, and the kernel fails it (ENOSPC or EIO), for real.

Prints one JSON object of observations on its last line; the test asserts on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study._study_direction import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk

DEADLINE_S = 60.0
BIG = "x" * (1 << 20)  # a 1 MiB attribute: 6 of them overflow the 4 MiB image store


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _tmpfs(where: str, size: str) -> str:
    os.makedirs(where, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", where)
    return where


def _thin_ext4(workdir: str) -> str:
    """An ext4 of 64 MiB whose image can hold only ~4 MiB: writeback fails once it is full."""
    back = _tmpfs(os.path.join(workdir, "back"), "4m")
    image = os.path.join(back, "ext4.img")
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "nodiscard", image)
    mount = os.path.join(workdir, "ext4")
    os.makedirs(mount)
    _run("mount", "-o", "loop,errors=continue", image, mount)
    return mount


def _url(path: str, **options: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"optuna+journal:///{path}" + (f"?{query}" if query else "")


def _error(err: BaseException) -> dict[str, Any]:
    return {"type": type(err).__name__, "errno": getattr(err, "errno", None), "text": str(err)}


def _attempt(seen: dict[str, Any], key: str, call: Any, *args: Any) -> bool:
    """Call ``call(*args)``; note what it raised under ``key``. Return whether it raised."""
    try:
        call(*args)
    except Exception as err:
        seen[key] = _error(err)
        return True
    return False


def _fill_page_cache(storage: Any) -> int:
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    tid: int = storage.create_new_trial(sid)
    for i in range(6):
        storage.set_trial_user_attr(tid, f"big{i}", BIG)
    return tid


def fsync_next_write(workdir: str) -> dict[str, Any]:
    """A background fsync fails: a later write raises, writes nothing, and so do the next."""
    path = os.path.join(_thin_ext4(workdir), "study.log")
    storage = osk.open_storage(_url(path, fsync_interval=0.05))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    tid = storage.create_new_trial(sid)
    seen: dict[str, Any] = {"writes_before_error": 0}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        count = seen["writes_before_error"]
        size = os.path.getsize(path)
        try:  # 6 MiB of attributes, then small ones, until the failed fsync surfaces
            storage.set_trial_user_attr(tid, f"a{count}", BIG if count < 6 else count)
        except Exception as err:
            seen["error"] = _error(err)
            seen["unchanged"] = os.path.getsize(path) == size
            break
        seen["writes_before_error"] += 1
        time.sleep(0.01)
    else:
        return seen
    _attempt(seen, "again", storage.set_trial_state_values, tid, TrialState.COMPLETE, [1.0])
    seen["reads"] = len(storage.get_trial(tid).user_attrs)
    _attempt(seen, "close", storage.close)
    return seen


def fsync_close(workdir: str) -> dict[str, Any]:
    """The fsync that close() makes fails: close() raises."""
    path = os.path.join(_thin_ext4(workdir), "study.log")
    storage = osk.open_storage(_url(path, fsync_interval=600))
    _fill_page_cache(storage)
    seen: dict[str, Any] = {}
    _attempt(seen, "close", storage.close)
    return seen


def fsync_commit(workdir: str) -> dict[str, Any]:
    """synchronous=commit: a finished trial's fsync fails: that call raises, and later ones."""
    path = os.path.join(_thin_ext4(workdir), "study.log")
    storage = osk.open_storage(_url(path, synchronous="commit"))
    tid = _fill_page_cache(storage)
    seen: dict[str, Any] = {}
    _attempt(seen, "error", storage.set_trial_state_values, tid, TrialState.COMPLETE, [1.0])
    size = os.path.getsize(path)
    _attempt(seen, "again", storage.create_new_trial, 0)
    seen["unchanged"] = os.path.getsize(path) == size
    return seen


CHILD = """
import gc, logging, sys
import optuna_storage_kit as osk
from optuna_storage_kit.toolkit import lifecycle
from optuna.study._study_direction import StudyDirection
logging.basicConfig(format="%(levelname)s %(name)s [%(threadName)s]: %(message)s")
storage = osk.open_storage(sys.argv[1])
sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
tid = storage.create_new_trial(sid)
for i in range(6):
    storage.set_trial_user_attr(tid, f"big{i}", "x" * (1 << 20))
print("written", flush=True)
if sys.argv[2] == "collect":
    del storage
    gc.collect()  # the finalizer only defers the closing (and its fsync) to the toolkit's thread
    lifecycle.flush_all()  # wait for the deferred calls
    print("still running", file=sys.stderr, flush=True)
"""
"""Writes 6 MiB to a journal, then returns normally (``exit``) or lets the storage be
collected and goes on (``collect``)."""


def fsync_gc(workdir: str) -> dict[str, Any]:
    """A storage is collected while the process goes on: its closing, with the pending fsync,
    is deferred out of the finalizer, and the failed fsync is logged at error level."""
    return _child(workdir, "collect")


def fsync_exit(workdir: str) -> dict[str, Any]:
    """A process writes and returns normally, without close(): its pending background fsync
    runs at interpreter exit, and its failure is logged at error level."""
    return _child(workdir, "exit")


def _child(workdir: str, how: str) -> dict[str, Any]:
    path = os.path.join(_thin_ext4(workdir), "study.log")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, _url(path, fsync_interval=600), how],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {"returncode": child.returncode, "stdout": child.stdout, "stderr": child.stderr}


def disk_full(workdir: str) -> dict[str, Any]:
    """Write until the disk is full; check what was acknowledged; free space; go on."""
    mount = _tmpfs(os.path.join(workdir, "small"), "1m")
    path = os.path.join(mount, "study.log")
    filler = os.path.join(mount, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (256 << 10))
    storage = osk.open_storage(_url(path))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "full")
    acknowledged: dict[int, dict[str, Any]] = {}  # trial id -> what returned for it
    seen: dict[str, Any] = {}
    blob = "b" * 7000
    sizes = []  # the journal's size before each write

    def write(call: Any, *args: Any) -> Any:
        sizes.append(os.path.getsize(path))
        return call(*args)

    for number in range(10_000):
        try:
            tid = write(storage.create_new_trial, sid)
            acknowledged[tid] = {"attrs": {}, "state": "RUNNING"}
            write(storage.set_trial_user_attr, tid, "blob", f"{number}-{blob}")
            acknowledged[tid]["attrs"]["blob"] = f"{number}-{blob}"
            write(storage.set_trial_state_values, tid, TrialState.COMPLETE, [float(number)])
            acknowledged[tid]["state"] = "COMPLETE"
        except Exception as err:
            seen["error"] = _error(err)
            seen["unchanged"] = os.path.getsize(path) == sizes[-1]
            break
    with open(path, "rb") as f:
        data = f.read()
    seen["ends_with_newline"] = data.endswith(b"\n")
    seen["acknowledged"] = len(acknowledged)
    seen["lost"] = _lost(osk.open_storage(_url(path)), acknowledged)  # while still full
    os.unlink(filler)
    study = optuna.load_study(storage=storage, study_name="full")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # the same object
    reopened = osk.open_storage(_url(path))
    optuna.load_study(storage=reopened, study_name="full").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    seen["lost_after"] = _lost(reopened, acknowledged)
    reference = JournalStorage(JournalFileBackend(path))
    seen["optuna_trials"] = len(reference.get_all_trials(sid))
    seen["optuna_lost"] = _lost(reference, acknowledged)
    return seen


def _lost(storage: Any, acknowledged: dict[int, dict[str, Any]]) -> list[int]:
    """Trial ids whose acknowledged writes are not all in ``storage``."""
    lost = []
    for tid, wrote in acknowledged.items():
        trial = storage.get_trial(tid)
        attrs_lost = any(trial.user_attrs.get(k) != v for k, v in wrote["attrs"].items())
        state_lost = wrote["state"] == "COMPLETE" and trial.state != TrialState.COMPLETE
        if attrs_lost or state_lost:
            lost.append(tid)
    return lost


SCENARIOS = {
    "disk-full": disk_full,
    "fsync-next-write": fsync_next_write,
    "fsync-close": fsync_close,
    "fsync-commit": fsync_commit,
    "fsync-exit": fsync_exit,
    "fsync-gc": fsync_gc,
}


def main(argv: list[str]) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    scenario, workdir = argv
    print(json.dumps(SCENARIOS[scenario](workdir)))


if __name__ == "__main__":
    main(sys.argv[1:])
