"""Out of space: the write that cannot be stored raises a clear error, never returns as if
stored; every acknowledged write before it is intact; once space is freed the store opens and
takes writes again.

The store lives on a 1 MiB tmpfs mounted in a private mount namespace (``unshare -m``), which
needs root; elsewhere the test is skipped and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_disk_full_worker.py")


@pytest.mark.parametrize("write_behind", ["true", "false"])
def test_a_full_disk_refuses_the_write_loudly_and_loses_nothing(
    tmp_path: Path, write_behind: str
) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs in a private namespace")
    mount = tmp_path / "small"
    mount.mkdir()
    script = 'mount -t tmpfs -o size=1m osk-full "$1" && exec "$2" "$3" fill "$1" "$4"'
    namespace = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]
    run = subprocess.run(
        [*namespace, str(mount), sys.executable, str(WORKER), write_behind],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if "mount:" in run.stderr and "permission denied" in run.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])
    assert report["acknowledged"] > 10, report  # the disk filled up after real work
    message = report["error"]
    assert f"{mount}/full.db" in message and "disk full" in message, message
    assert "INSERT" not in message and "UPDATE" not in message, message
    assert report["is_oserror"] and report["errno_is_enospc"], report
    assert report["intact"], "an acknowledged trial was lost or changed"
    assert report["unacknowledged_stored_as_complete"] == [], "a refused write was stored"
    assert report["after_more"] >= report["acknowledged"] + 5
    assert report["final_intact"]
    assert set(report["final"]) == {"COMPLETE"} or report["final"].count("RUNNING") <= 1
