"""``osk dashboard``: a real server in a subprocess, asked over HTTP on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_get(location: str, path: str, prelude: str = "") -> tuple[Any, str]:
    """Start ``osk dashboard location``, GET ``path`` as JSON, stop it; return (body, stderr)."""
    port = free_port()
    code = f"{prelude}\nfrom optuna_storage_kit.tools.cli import main\nmain()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "dashboard", location, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    body: Any = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    body = json.loads(r.read())
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    return body, stderr


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_dashboard_lists_the_study(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        location = f"sqlite:///{tmp_path / 'd.db'}"
        storage: Any = location
    else:
        location = str(tmp_path / "d.log")
        storage = JournalStorage(JournalFileBackend(location))
    study = optuna.create_study(storage=storage, study_name=f"dash-{kind}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)

    body, stderr = serve_and_get(location, "/api/studies")
    assert body is not None, f"the dashboard never answered:\n{stderr}"
    names = [s["study_name"] for s in body["study_summaries"]]
    assert names == [f"dash-{kind}"]
    assert "optuna-dashboard on" in stderr


def test_missing_dashboard_names_the_extra(tmp_path: Path) -> None:
    location = f"sqlite:///{tmp_path / 'd.db'}"
    optuna.create_study(storage=location)
    body, stderr = serve_and_get(
        location, "/api/studies", prelude="import sys; sys.modules['optuna_dashboard'] = None"
    )
    assert body is None
    assert 'pip install "optuna-storage-kit[dashboard]"' in stderr


def test_missing_file_is_refused(tmp_path: Path) -> None:
    body, stderr = serve_and_get(str(tmp_path / "typo.log"), "/api/studies")
    assert body is None and "no such file" in stderr
    assert not (tmp_path / "typo.log").exists()


def test_dashboard_serves_a_kit_backend() -> None:
    # optuna+memory:// is empty in a new process; this proves the kit's storage object (the
    # core's strict wrapper) is what the dashboard's API runs on.
    body, stderr = serve_and_get("optuna+memory://dash", "/api/studies")
    assert body == {"study_summaries": []}, stderr
