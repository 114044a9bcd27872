"""User errors end in one ``Error:`` line with the fix, never a traceback (``--debug`` shows
it); a command whose plugin is missing says what to install. Run as a user runs ``osk``."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

OskCmd = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[..., str]

DOWN = "postgresql://postgres:s3cr3t@127.0.0.1:1/postgres"
"""A Postgres server that is down: nothing listens on port 1."""


def test_usage_errors_exit_2(osk_cmd: OskCmd, one_error_line: ErrorLine) -> None:
    line = one_error_line(osk_cmd("demo", "--trials", "0", check=False), code=2)
    assert "Invalid value for '--trials': 0 is not in the range x>=1" in line
    line = one_error_line(osk_cmd("bench", "--workers", "0", check=False), code=2)
    assert "'--workers'" in line


@pytest.mark.parametrize(
    "args",
    [
        ("info", DOWN),
        ("demo", "--url", "optuna+" + DOWN, "--trials", "5"),
        ("copy", "optuna+memory://", "optuna+" + DOWN),
    ],
    ids=["info-optuna-url", "demo", "copy"],
)
def test_a_server_that_is_down(
    osk_cmd: OskCmd, one_error_line: ErrorLine, args: tuple[str, ...]
) -> None:
    result = osk_cmd(*args, check=False)
    line = one_error_line(result)
    assert "127.0.0.1" in line and "s3cr3t" not in result.stdout + result.stderr


def test_debug_shows_the_traceback(osk_cmd: OskCmd) -> None:
    result = osk_cmd("--debug", "demo", "--url", "optuna+" + DOWN, "--trials", "5", check=False)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


def test_certify_with_a_mistyped_scheme(osk_cmd: OskCmd, one_error_line: ErrorLine) -> None:
    line = one_error_line(osk_cmd("certify", "optuna+sqlitte:///x.db", "--quick", check=False))
    assert "no installed backend serves 'optuna+sqlitte://'" in line


FACTORIES = {
    "missing": None,
    "broken": "import no_such_driver_module\n",
    "bad_claims": (
        "import optuna_storage_kit as osk\n"
        "def factory(directory, **options):\n"
        "    return osk.open_storage('optuna+memory://')\n"
        "factory.capabilities = osk.Capabilities(multi_host=True)\n"
    ),
}


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_certify_with_a_factory_that_does_not_import(
    osk_cmd: OskCmd, one_error_line: ErrorLine, tmp_path: Path, kind: str
) -> None:
    """The module is missing, fails to import, or builds capabilities that break a rule
    (checked once, where ``Capabilities`` is built: point 15)."""
    source = FACTORIES[kind]
    if source is not None:
        (tmp_path / f"osk_factory_{kind}.py").write_text(source)
    result = osk_cmd(
        "certify",
        "--factory",
        f"osk_factory_{kind}:factory",
        "--out",
        tmp_path / "cert",
        "--quick",
        prelude=f"import sys; sys.path.insert(0, {str(tmp_path)!r})",
        check=False,
    )
    line = one_error_line(result)
    expected = {
        "missing": "No module named 'osk_factory_missing'",
        "broken": "No module named 'no_such_driver_module'",
        "bad_claims": "the multi_host capability implies multi_process",
    }[kind]
    assert expected in line


def test_certify_when_the_conformance_kit_fails_to_load(
    osk_cmd: OskCmd, one_error_line: ErrorLine
) -> None:
    result = osk_cmd(
        "certify",
        "optuna+memory://",
        prelude="import sys; sys.modules['osk_conformance'] = None",
        check=False,
    )
    line = one_error_line(result)
    assert "osk certify comes from osk-conformance, which is installed but failed to load" in line
    assert 'pip install --force-reinstall "optuna-storage-kit[conformance]"' in line


def test_certify_when_the_conformance_kit_is_not_installed(
    tmp_path: Path, one_error_line: ErrorLine
) -> None:
    """An interpreter whose site directory holds everything of this one's but osk-conformance
    (its distribution metadata and its editable path): the kit is not installed there."""
    site = Path(sysconfig.get_paths()["purelib"])
    view = tmp_path / "site-packages"
    view.mkdir()
    for entry in site.iterdir():
        if "osk_conformance" not in entry.name:
            (view / entry.name).symlink_to(entry)
    code = (
        f"import site; site.addsitedir({str(view)!r})\n"
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('osk_conformance') is None\n"
        "from optuna_storage_kit.tools.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, "certify", "optuna+memory://", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    line = one_error_line(result)
    assert line == (
        "Error: osk certify comes from osk-conformance, which is not installed. Install it "
        'with: pip install "optuna-storage-kit[conformance]"'
    )
