"""Installed from the wheels, as users install it: the ``.pth`` file ships and works.

Builds the core (sdist, then the wheel from it, as ``uv build`` does) and osk-journal (pure
Python, quick to build) into a temporary directory, installs both into a fresh virtual
environment outside the workspace with ``uv``, and runs the README's snippet there with no
import of the kit. One build per module; about half a minute with a warm uv cache.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheels

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

ROOT = Path(__file__).parents[2]
PTH_NAME = "optuna_storage_kit-autoload.pth"


def uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local/bin"))
    assert found, "these tests need uv (https://docs.astral.sh/uv/) on PATH, as the project does"
    return found


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory, run: Runner) -> dict[str, Path]:
    """A fresh venv holding optuna-storage-kit and osk-journal, installed from their wheels."""
    tmp = tmp_path_factory.mktemp("wheels")
    dist = tmp / "dist"
    env = {"VIRTUAL_ENV": ""}  # uv must not pick the workspace's venv
    run([uv(), "build", "--out-dir", dist], cwd=ROOT, env=env)  # sdist, then wheel from it
    only_journal = ["--package", "osk-journal", "--wheel"]
    run([uv(), "build", *only_journal, "--out-dir", dist], cwd=ROOT, env=env)
    constraints = tmp / "constraints.txt"  # the workspace's locked versions of the rest
    locked = ["--frozen", "--no-hashes", "--no-emit-workspace", "--no-dev", "--all-extras"]
    run([uv(), "export", *locked, "--quiet", "-o", constraints], cwd=ROOT, env=env)
    venv = tmp / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, venv], env=env)
    python = venv / "bin" / "python"
    [core] = dist.glob("optuna_storage_kit-*.whl")
    [journal] = dist.glob("osk_journal-*.whl")
    into = ["--python", python, "--find-links", dist, "-c", constraints]
    run([uv(), "pip", "install", "--quiet", *into, core, journal], env=env)
    return {"core_wheel": core, "venv": venv, "python": python, "cwd": tmp}


def test_the_core_wheel_ships_the_pth_file(wheel_env: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheel_env["core_wheel"]) as wheel:
        shipped = wheel.read(PTH_NAME).decode()
        [record_name] = [n for n in wheel.namelist() if n.endswith(".dist-info/RECORD")]
        record = wheel.read(record_name).decode()
    assert shipped == (ROOT / "core" / PTH_NAME).read_text()
    assert re.search(rf"^{re.escape(PTH_NAME)},", record, re.M)  # uninstall removes it


def test_the_readme_snippet_runs_in_the_installed_venv(
    wheel_env: dict[str, Path], run: Runner
) -> None:
    python, cwd = wheel_env["python"], wheel_env["cwd"]
    match = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert match is not None
    # osk-sqlite needs a Rust build: the journal backend stands in for it here.
    snippet = match.group(1).replace("optuna+sqlite:///fast.db", "optuna+journal:///fast.log")
    assert "optuna_storage_kit" not in snippet
    script = cwd / "seed.py"
    script.write_text(
        "def objective(trial):\n"
        "    return trial.suggest_float('x', -10, 10) ** 2\n\n"
        + snippet
        + "\nimport optuna_storage_kit\n"
        "loaded = optuna.load_study(study_name=study.study_name, "
        "storage='optuna+journal:///fast.log')\n"
        "print(len(loaded.trials), type(loaded._storage).__name__)\n"
        "print(optuna_storage_kit.__file__)\n"
    )
    out = run([python, script], cwd=cwd).stdout.splitlines()
    assert out[0] == "1000 KitStorage"
    assert Path(out[1]).is_relative_to(wheel_env["venv"])  # the wheel's copy, not the tree's
    [site_packages] = wheel_env["venv"].glob("lib/python3.*/site-packages")
    assert (site_packages / PTH_NAME).is_file()
    assert not list(site_packages.glob("_editable_impl_*.pth"))

    # The installed console scripts see the study too; and OSK_AUTOLOAD=0 turns it all off.
    studies = [wheel_env["venv"] / "bin" / "optuna", "studies", "-f", "json"]
    url = ["--storage", "optuna+journal:///fast.log"]
    [study] = json.loads(run([*studies, *url], cwd=cwd).stdout)
    assert study["n_trials"] == 1000
    off = run([*studies, *url], cwd=cwd, env={"OSK_AUTOLOAD": "0"}, check=False)
    assert off.returncode == 1 and "Failed to guess storage class" in off.stderr
