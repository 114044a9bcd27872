"""Run `_workers.py` commands in another process and read their answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_workers.py")


def start(command: str, url: str, study: str, arg: object) -> subprocess.Popen[bytes]:
    """Start a worker process (a fresh interpreter, as separate jobs would be)."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), command, url, study, str(arg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run(command: str, url: str, study: str = "-", arg: object = "-") -> Any:
    """Run a worker command to the end and return what it printed, parsed as JSON."""
    worker = start(command, url, study, arg)
    out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err.decode()
    assert b"database is locked" not in err
    return json.loads(out) if out.strip() else None


def query(path: Path, sql: str) -> list[list[Any]]:
    """Rows of a query run by Python's sqlite3 module in another process."""
    return run("query", str(path), "-", sql)  # type: ignore[no-any-return]


def queries(path: Path, *sql: str) -> list[list[list[Any]]]:
    """Rows of several statements, run in order in one other process."""
    return run("query", str(path), "-", json.dumps(list(sql)))  # type: ignore[no-any-return]
