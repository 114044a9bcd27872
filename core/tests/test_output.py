"""Progress and layout: a rich bar on a terminal (a real pseudo-terminal here), plain lines off
one, and tables that never fold into fragments when piped, whatever ``COLUMNS`` says."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

OskCmd = Callable[..., subprocess.CompletedProcess[str]]

LONG_NAME = "a-study-whose-name-is-long-enough-to-be-folded-by-a-narrow-terminal-table"
BAR = "━"


@pytest.fixture
def source(tmp_path: Path) -> str:
    """An Optuna journal file holding one study of 40 trials, named :data:`LONG_NAME`."""
    path = tmp_path / "src.log"
    study = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(path))), study_name=LONG_NAME
    )
    study.add_trials([optuna.trial.create_trial(value=float(i)) for i in range(40)])
    return str(path)


def commands(source: str, tmp_path: Path) -> dict[str, tuple[list[str], str, str]]:
    """Each command with a progress bar, the plain line it starts with off a terminal, and
    the text of its bar."""
    return {
        "demo": (
            ["demo", "--url", "optuna+memory://", "--trials", "40", "--no-compare"],
            "memory: optimizing (40 trials) ...",
            "memory: optimizing",
        ),
        "copy": (
            ["copy", source, str(tmp_path / "dst.log")],
            f"copying {LONG_NAME} (40 trials) ...",
            f"copying {LONG_NAME}",
        ),
        "bench": (
            ["bench", "--trials", "5", "--workload", "random", "--no-baselines"],
            "  random: memory (optuna+memory://), 1 process(es)",
            "random: ",
        ),
    }


@pytest.mark.parametrize("command", ["demo", "copy", "bench"])
def test_plain_progress_off_a_terminal(
    osk_cmd: OskCmd, source: str, tmp_path: Path, command: str
) -> None:
    args, started, _ = commands(source, tmp_path)[command]
    result = osk_cmd(*args)
    progress = result.stderr.splitlines()
    assert started in progress
    assert any(re.search(r": \d+/\d+ done in \d+\.\d\d s$", line) for line in progress)
    assert BAR not in result.stderr and "\r" not in result.stderr
    assert "\x1b[" not in result.stderr + result.stdout


def run_in_terminal(args: list[str]) -> str:
    """Run ``osk ARGS`` with a pseudo-terminal as its standard output and error."""
    parent, child = pty.openpty()
    code = "from optuna_storage_kit.tools.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([parent], [], [], 600)
        if not ready:
            process.kill()
            raise AssertionError("osk did not finish within 600 s")
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    assert process.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command", ["demo", "copy", "bench"])
def test_progress_bar_on_a_terminal(source: str, tmp_path: Path, command: str) -> None:
    args, started, described = commands(source, tmp_path)[command]
    shown = run_in_terminal(args)
    assert started not in shown and "done in" not in shown  # no plain progress lines
    bars = [line for line in shown.split("\r") if described in line and BAR in line]
    assert bars, shown[-2000:]  # the task's line with its bar, redrawn in place
    assert "\x1b[2K" in shown
    total = {"demo": 40, "copy": 40, "bench": None}[command]
    assert any(re.search(rf"\d+/{total or '[0-9]+'}", line) for line in bars)


def test_piped_tables_do_not_fold_in_a_narrow_terminal(osk_cmd: OskCmd, source: str) -> None:
    narrow = {"COLUMNS": "40"}
    info = osk_cmd("info", source, env=narrow).stdout
    row = next(line for line in info.splitlines() if LONG_NAME in line)
    assert row.split("│")[1].strip() == LONG_NAME
    assert "minimize" in row and "40" in row
    backends = osk_cmd("backends", env=narrow).stdout
    row = next(line for line in backends.splitlines() if "optuna+memory://" in line)
    assert "thread_safe, heartbeat" in row and "ok" in row
