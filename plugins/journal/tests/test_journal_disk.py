"""A full disk and failed fsyncs, for real: each scenario of ``disk_scenarios.py`` runs as
root in a private mount namespace (``unshare -m``) on a small tmpfs, or on an ext4 whose loop
image sits on a small tmpfs so that the kernel fails the fsync that writes pages back."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "disk_scenarios.py")


@functools.cache
def _cannot_mount(loop: bool) -> str | None:
    """Why the scenarios cannot run here, or ``None``."""
    if os.geteuid() != 0:
        return "needs root: mounts a small file system in a private mount namespace (unshare -m)"
    tools = ["unshare", "mount"] + (["mkfs.ext4"] if loop else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} to mount a small file system"
    if loop and not os.path.exists("/dev/loop-control"):
        return "needs loop devices (/dev/loop-control) for an ext4 image"
    probe = subprocess.run(
        ["unshare", "-m", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a private mount namespace: {probe.stderr.strip()}"
    return None


def _scenario(name: str, workdir: str, *, loop: bool = True) -> dict[str, Any]:
    reason = _cannot_mount(loop)
    if reason is not None:
        pytest.skip(reason)
    done = subprocess.run(
        ["unshare", "-m", sys.executable, SCRIPT, name, workdir],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _fsync_failed(error: dict[str, Any], workdir: str) -> None:
    assert error["type"] == "JournalSyncError", error
    assert f"fsync of journal '{workdir}/ext4/study.log' failed" in error["text"]
    assert "refuses further writes" in error["text"]


def test_failed_background_fsync_surfaces_on_the_next_write(tmp_path: Any) -> None:
    seen = _scenario("fsync-next-write", str(tmp_path))
    assert "error" in seen, f"no write raised in {seen['writes_before_error']} writes"
    _fsync_failed(seen["error"], str(tmp_path))
    assert seen["unchanged"]  # the refused write wrote nothing
    _fsync_failed(seen["again"], str(tmp_path))  # and the storage keeps refusing
    assert seen["reads"] == seen["writes_before_error"]  # reads still work
    _fsync_failed(seen["close"], str(tmp_path))


def test_failed_fsync_at_close_raises(tmp_path: Any) -> None:
    seen = _scenario("fsync-close", str(tmp_path))
    assert "close" in seen, "close() returned although its fsync failed"
    _fsync_failed(seen["close"], str(tmp_path))


def test_failed_fsync_of_a_commit_raises_then_refuses(tmp_path: Any) -> None:
    seen = _scenario("fsync-commit", str(tmp_path))
    _fsync_failed(seen["error"], str(tmp_path))
    _fsync_failed(seen["again"], str(tmp_path))
    assert seen["unchanged"]


def test_failed_fsync_at_interpreter_exit_is_logged_as_an_error(tmp_path: Any) -> None:
    seen = _scenario("fsync-exit", str(tmp_path))
    assert seen["stdout"] == "written\n"
    expected = f"ERROR osk_journal [MainThread]: fsync of journal '{tmp_path}/ext4/study.log'"
    assert expected in seen["stderr"], seen["stderr"]


def test_failed_fsync_of_a_collected_storage_is_logged_out_of_the_finalizer(
    tmp_path: Any,
) -> None:
    seen = _scenario("fsync-gc", str(tmp_path))
    assert seen["returncode"] == 0, seen["stderr"]
    logged, _ = seen["stderr"].split("still running\n")
    expected = f"fsync of journal '{tmp_path}/ext4/study.log' failed"
    # Made on a thread of its own (the toolkit's, or the main one if it ran the deferred
    # call first), not in the finalizer; logged once, not again at exit.
    assert f"ERROR osk_journal [osk-lifecycle]: {expected}" in logged or (
        f"ERROR osk_journal [MainThread]: {expected}" in logged
    )
    assert seen["stderr"].count(expected) == 1


def test_full_disk(tmp_path: Any) -> None:
    """Writing until the disk is full: the write that cannot be stored raises an error naming
    the file and the full disk, leaves nothing behind, and loses nothing acknowledged; once
    space is freed the same storage and a new one take writes, and Optuna reads the file."""
    seen = _scenario("disk-full", str(tmp_path), loop=False)
    error = seen["error"]
    assert error["type"] == "JournalWriteError", error
    assert error["errno"] == 28  # ENOSPC
    assert (
        f"cannot append to journal '{tmp_path}/small/study.log': the disk is full"
        in (error["text"])
    )
    assert "Nothing of this write was stored" in error["text"]
    assert seen["unchanged"] and seen["ends_with_newline"]
    assert seen["acknowledged"] > 10
    assert seen["lost"] == [] and seen["lost_after"] == [] and seen["optuna_lost"] == []
    assert seen["optuna_trials"] == seen["acknowledged"] + 4
