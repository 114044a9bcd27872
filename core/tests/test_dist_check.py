"""``.ci/dist_check.py`` (the ``dist`` tox env) refuses what a user should not get.

The env itself builds and installs everything; these tests feed its checks the wrong files and
a real ``osk backends`` table, so a check that would let a bad release through fails here.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dist_check", ROOT / ".ci" / "dist_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dist_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


dist_check = _load_script()
RELEASE, MEMBERS = dist_check.workspace()
ARCH = platform.machine()
GOOD_SQLITE = f"osk_sqlite-{RELEASE}-cp310-abi3-manylinux2014_{ARCH}.manylinux_2_17_{ARCH}.whl"


def _files(tmp_path: Path, sqlite_wheel: str) -> list[Path]:
    names = [sqlite_wheel, f"osk_sqlite-{RELEASE}.tar.gz"]
    for member in MEMBERS:
        if not member.native:
            stem = member.name.replace("-", "_")
            names += [f"{stem}-{RELEASE}-py3-none-any.whl", f"{stem}-{RELEASE}.tar.gz"]
    for name in names:
        (tmp_path / name).touch()
    return sorted(tmp_path.iterdir())


def test_the_release_files_pass(tmp_path: Path) -> None:
    wheels = dist_check.check_files(_files(tmp_path, GOOD_SQLITE), RELEASE, MEMBERS)
    assert set(wheels) == {m.name for m in MEMBERS}


@pytest.mark.parametrize(
    ("sqlite_wheel", "problem"),
    [
        # What maturin builds through PEP 517 unless told otherwise: the index refuses it.
        (f"osk_sqlite-{RELEASE}-cp310-abi3-linux_{ARCH}.whl", f"tags ['cp310-abi3-linux_{ARCH}']"),
        # One wheel per CPython instead of one for all.
        (f"osk_sqlite-{RELEASE}-cp311-cp311-manylinux_2_17_{ARCH}.whl", "cp311-cp311"),
        (f"osk_sqlite-0.0.1-cp310-abi3-manylinux_2_17_{ARCH}.whl", "not a distribution of"),
    ],
)
def test_a_wrong_sqlite_wheel_is_refused(tmp_path: Path, sqlite_wheel: str, problem: str) -> None:
    with pytest.raises(dist_check.CheckError, match=re.escape(problem)):
        dist_check.check_files(_files(tmp_path, sqlite_wheel), RELEASE, MEMBERS)


def test_a_missing_wheel_is_refused(tmp_path: Path) -> None:
    files = [f for f in _files(tmp_path, GOOD_SQLITE) if not f.name.startswith("osk_journal-")]
    files.append(tmp_path / f"osk_journal-{RELEASE}.tar.gz")
    with pytest.raises(dist_check.CheckError, match=r"osk-journal: .* not one sdist and one"):
        dist_check.check_files(files, RELEASE, MEMBERS)


@pytest.fixture(scope="module")
def backends_table() -> str:
    """What ``osk backends`` prints in this workspace, where every backend is installed."""
    osk = Path(sys.executable).parent / "osk"
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [osk, "backends"], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_the_workspace_backends_pass(backends_table: str) -> None:
    dist_check.check_backends(backends_table, RELEASE)


def test_a_backend_at_another_version_is_refused(backends_table: str) -> None:
    wrong = f"journal: osk-journal {RELEASE}, not osk-journal 9.9.9"
    with pytest.raises(dist_check.CheckError, match=re.escape(wrong)):
        dist_check.check_backends(backends_table, "9.9.9")


def test_a_missing_or_broken_backend_is_refused(backends_table: str) -> None:
    lines = [line for line in backends_table.splitlines() if "│ postgres " not in line]
    broken = [
        line.replace("│ ok ", "│ broken: No module named 'asyncpg' ")
        if "│ journal " in line
        else line
        for line in lines
    ]
    with pytest.raises(dist_check.CheckError) as raised:
        dist_check.check_backends("\n".join(broken), RELEASE)
    assert "postgres (from osk-postgres) is not listed" in str(raised.value)
    assert "journal: broken" in str(raised.value)
