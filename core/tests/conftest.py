from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import optuna_storage_kit as osk


@pytest.fixture
def registry() -> osk.Registry:
    """An empty registry that loads no entry points."""
    return osk.Registry(entry_points=False)


@pytest.fixture
def make_backend() -> Callable[..., osk.Backend]:
    """Build a valid Backend descriptor whose storage is a fresh memory store."""
    return _make_backend


def _make_backend(
    name: str = "fake", schemes: tuple[str, ...] = ("fake",), **kwargs: object
) -> osk.Backend:
    def open_fake(url: osk.StorageURL, options: object) -> object:
        return osk.open_storage("optuna+memory://").inner

    fields: dict[str, object] = {
        "name": name,
        "schemes": schemes,
        "version": "1.0",
        "spec_version": osk.SPEC_VERSION,
        "open": open_fake,
    }
    fields.update(kwargs)
    return osk.Backend(**fields)  # type: ignore[arg-type]


@pytest.fixture
def installed_plugins(tmp_path: Path) -> Iterator[Callable[[str, str, str], None]]:
    """Install real plugin distributions (a module and a .dist-info with entry points) on sys.path.

    Call it as ``install(dist_name, entry_point_name, module_source)``; the registry then finds
    the plugin through importlib.metadata exactly as it finds a pip-installed one.
    """
    sys.path.insert(0, str(tmp_path))
    modules: list[str] = []

    def install(dist: str, entry_point: str, source: str) -> None:
        module = f"osk_test_plugin_{dist.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[optuna_storage_kit]\n{entry_point} = {module}\n")
        modules.append(module)

    yield install
    sys.path.remove(str(tmp_path))
    for module in modules:
        sys.modules.pop(module, None)


OskRunner = Callable[..., "subprocess.CompletedProcess[str]"]


def _run_osk(
    *args: str | Path, check: bool = True, prelude: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``osk ARGS`` in a fresh interpreter, as a user would (``prelude`` runs first).

    With ``check``, a non-zero exit fails the test with the command's output. ``env`` adds to
    (or overrides) the environment, which has ``COLUMNS=200``.
    """
    code = f"{prelude}\nfrom optuna_storage_kit.tools.cli import main\nmain()"
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"osk {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def osk_cmd() -> OskRunner:
    """``osk_cmd(*args, check=True, prelude="", env=None)``: run the ``osk`` command line."""
    return _run_osk


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def _run(
    args: list[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would, in a clean environment (no OSK_AUTOLOAD, OPTUNA_STORAGE).

    ``env`` adds to (or, with a value of ``""``, removes from) this process's environment.
    With ``check``, a non-zero exit fails the test with the command's output.
    """
    full = {k: v for k, v in os.environ.items() if k not in ("OSK_AUTOLOAD", "OPTUNA_STORAGE")}
    for key, value in (env or {}).items():
        if value:
            full[key] = value
        else:
            full.pop(key, None)
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def run() -> Runner:
    """``run(args, cwd=None, env=None, check=True, timeout=600)``: a command in a process."""
    return _run


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The directory of this interpreter's console scripts (``optuna``, ``osk``, ...)."""
    return Path(sys.executable).parent


@pytest.fixture
def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Check that a command failed with exit ``code`` and one ``Error:`` line, no traceback;
    return that line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    if code == 1:  # plain progress lines may come first; the error ends the output
        assert lines[-1] == errors[0], result.stderr
    return errors[0]


@pytest.fixture(scope="session")
def one_error_line() -> Callable[..., str]:
    """``one_error_line(result, code=1)``: check that a command failed with exit ``code`` and
    one ``Error:`` line, its last (usage errors add click's usage lines), no traceback; return
    the line."""
    return _one_error_line


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Callable[[], str]]:
    """``new()`` makes a fresh Postgres database and returns its URL; all are dropped after.

    Every admin statement has its own connection (``osk_postgres.testing``): the suite may
    restart the server in between."""
    from osk_postgres.testing import create_database, drop_database, server_url

    names: list[str] = []

    def new() -> str:
        names.append(create_database("osk_tools"))
        return server_url().set(database=names[-1]).render_as_string(hide_password=False)

    try:
        yield new
    finally:
        for name in names:
            drop_database(name)


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    return pg_databases()
