"""Every write that returned survives every normal end of the process that made it.

A running trial's params, attributes and intermediate values are buffered (``write_behind``);
Optuna's persistence contract lets them wait for the trial's state change, and a crash may
lose them, but a normal end of the process never may: returning without ``close()``,
``close()``, the storage garbage-collected while the process goes on, ``sys.exit()`` while a
non-daemon thread still writes, a child started with the ``fork`` start method. Each test asks
in one process, looks from a second, tells from a third and checks from a fourth, as
``optuna ask`` and ``optuna tell`` do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

WORKER = Path(__file__).with_name("_lifecycle_worker.py")
# No timed flush during a test: only the process's end can write the buffer out.
NO_TIMED_FLUSH = "?flush_interval=3600"


def _start(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(url: str, *args: str) -> Any:
    worker = _start(url, *args)
    out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err
    assert "Traceback" not in err, err
    return json.loads(out.splitlines()[0])


def _running_with_everything(seen: dict[str, Any], written: dict[str, Any]) -> None:
    assert seen["state"] == "RUNNING"
    for key in ("params", "user_attrs", "system_attrs", "intermediate_values"):
        assert seen[key] == written[key], key


def _ask_look_tell_check(url: str, written: list[dict[str, Any]]) -> None:
    """What the asking process wrote is seen RUNNING elsewhere, told, then seen COMPLETE."""
    seen = {t["number"]: t for t in _run(url, "look")}
    assert seen[0]["state"] == "COMPLETE"
    for w in written:
        _running_with_everything(seen[w["number"]], w)
    for w in written:
        before_tell = _run(url, "tell", str(w["number"]), str(10.0 + w["number"]))
        _running_with_everything(before_tell, w)
    after = {t["number"]: t for t in _run(url, "look")}
    for w in written:
        done = after[w["number"]]
        assert done["state"] == "COMPLETE"
        assert done["values"] == [10.0 + w["number"]]
        assert done["params"] == w["params"]
        assert done["user_attrs"] == w["user_attrs"]


@pytest.mark.parametrize("how", ["exit", "close", "thread", "fork"])
def test_a_normal_end_keeps_a_running_trials_writes(tmp_path: Path, how: str) -> None:
    url = f"optuna+sqlite:///{tmp_path / 'ask.db'}{NO_TIMED_FLUSH}"
    written = _run(url, how)
    _ask_look_tell_check(url, written)


def test_a_collected_storage_writes_out_while_the_process_goes_on(tmp_path: Path) -> None:
    url = f"optuna+sqlite:///{tmp_path / 'gc.db'}{NO_TIMED_FLUSH}"
    asker = _start(url, "gc")
    try:
        assert asker.stdout is not None and asker.stdin is not None
        written = json.loads(asker.stdout.readline())
        assert asker.stdout.readline().strip() == "collected"
        # The asker is alive: only the collection can have written its trial out (the
        # lifecycle thread does it soon after, not inside the finalizer).
        deadline = time.monotonic() + 60
        while True:
            seen = {t["number"]: t for t in _run(url, "look")}
            if seen[1]["params"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert asker.poll() is None, "the asking process must still run"
        _running_with_everything(seen[1], written[0])
        asker.stdin.write("\n")
        asker.stdin.flush()
        _, err = asker.communicate(timeout=120)
        assert asker.returncode == 0, err
    finally:
        if asker.poll() is None:
            asker.kill()
            asker.communicate()
    _ask_look_tell_check(url, written)


@pytest.mark.parametrize("how", ["exit", "close"])
def test_after_a_normal_end_the_db_file_alone_is_the_study(
    tmp_path: Path, how: str, in_other_process: ModuleType
) -> None:
    path = tmp_path / "whole.db"
    url = f"optuna+sqlite:///{path}{NO_TIMED_FLUSH}"
    _run(url, how)
    # Another process keeps the file open (so SQLite's own checkpoint at the last close in
    # the system cannot happen): the writer's own checkpoint must do it.
    holder = _start(str(path), "hold")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for _ in range(2):
            written = _run(url, how)
        assert written[0]["number"] == 5  # 3 processes: 3 finished trials, 3 running ones
        copy = tmp_path / "copy" / "whole.db"
        copy.parent.mkdir()
        shutil.copyfile(path, copy)  # the .db alone, without -wal and -shm
    finally:
        holder.communicate("\n", timeout=120)
    assert in_other_process.queries(
        copy, "SELECT COUNT(*) FROM trials", "SELECT COUNT(*) FROM trial_params"
    ) == [[[6]], [[3 + 3 * 3]]]
