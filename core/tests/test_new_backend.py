"""``osk new-backend``: the generated package installs, passes its tests and ``osk certify``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(
    *cmd: str | Path, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def osk(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "optuna_storage_kit.tools.cli", *args, check=check)


def test_generated_backend_installs_and_passes_osk_certify(tmp_path: Path) -> None:
    out = osk("new-backend", "acmedb", "--dir", tmp_path).stdout
    package = tmp_path / "osk-acmedb"
    assert f"created {package}" in out
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points.optuna_storage_kit]\nacmedb = "osk_acmedb._plugin"' in pyproject
    assert "osk-conformance" in pyproject and "--osk-url" in pyproject
    assert (package / "tox.ini").exists() and (package / "osk_acmedb" / "py.typed").exists()

    # A fresh environment with this workspace's packages (by path) and the generated one.
    venv = tmp_path / "venv"
    uv = (sys.executable, "-m", "uv")
    run(*uv, "venv", "--quiet", venv, "--python", sys.executable)
    python = venv / "bin" / "python"
    run(*uv, "pip", "install", "--quiet", "--python", python, ROOT, ROOT / "conformance",
        f"{package}[test]")  # fmt: skip
    backends = run(venv / "bin" / "osk", "backends").stdout
    assert any(line.startswith("│ acmedb") and "ok" in line for line in backends.splitlines())

    # Its own tests, on the conformance kit's pytest fixtures.
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert "2 passed" in tests.stdout

    # The whole kit, unchanged package (plugin commands load on use, not in `osk --help`).
    assert "--quick" in run(venv / "bin" / "osk", "certify", "--help").stdout
    cert_dir = tmp_path / "certificate"
    certify = run(
        venv / "bin" / "osk", "certify", "optuna+acmedb://{name}", "--quick", "--no-progress",
        "--out", cert_dir, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert certify.returncode == 0, f"osk certify failed:\n{certify.stdout}\n{certify.stderr}"
    certificate = json.loads((cert_dir / "certificate.json").read_text())
    assert certificate["result"] == "pass"
    assert certificate["backend"]["name"] == "acmedb"
    ran = sum(c["passed"] for c in certificate["categories"].values())
    assert ran >= 100, f"only {ran} tests of the kit passed"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My_DB", "is not a valid backend name"),
        ("my-db", "is not a valid backend name"),
        ("memory", "already served by an installed backend"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    result = osk("new-backend", name, "--dir", tmp_path, check=False)
    assert result.returncode != 0 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "osk-mine").mkdir()
    (tmp_path / "osk-mine" / "keep.txt").write_text("mine")
    result = osk("new-backend", "mine", "--dir", tmp_path, check=False)
    assert result.returncode != 0 and "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "osk-mine").iterdir()] == ["keep.txt"]
