"""What starting up costs in modules: the kit's import and ``osk --version``/``--help``.

Deterministic checks of ``sys.modules`` in fresh interpreters; the times themselves are measured
by ``core/benchmarks/startup.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

# Top-level packages that must not load at import: heavy (SQLAlchemy alone is over a second
# here), or plugins and backends, which load on first use.
HEAVY = ("sqlalchemy", "alembic", "rich", "click", "pluggy", "numpy")
BACKENDS = ("osk_sqlite", "osk_postgres", "osk_journal", "osk_conformance", "asyncpg")


def modules_after(run: Runner, code: str, **kwargs: object) -> set[str]:
    full = code + "\nimport sys\nprint('\\n'.join(sys.modules))"
    return set(run([sys.executable, "-c", full], **kwargs).stdout.split())


def baseline(run: Runner) -> set[str]:
    """The modules a bare interpreter has (the ``.pth`` hook off)."""
    return modules_after(run, "", env={"OSK_AUTOLOAD": "0"}) - {"optuna_storage_kit"}


def top_levels(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("autoload", ["1", "0"])
def test_importing_the_kit_imports_nothing_heavy(run: Runner, autoload: str) -> None:
    loaded = modules_after(run, "import optuna_storage_kit", env={"OSK_AUTOLOAD": autoload})
    assert not top_levels(loaded) & {*HEAVY, *BACKENDS, "optuna"}
    assert "importlib.metadata" not in loaded  # no entry points read
    assert "optuna_storage_kit.runtime.registry" not in loaded
    assert {m for m in loaded if m.startswith("optuna_storage_kit")} == {
        "optuna_storage_kit",
        "optuna_storage_kit._activation",
    }
    assert not {"typing", "collections.abc"} & (loaded - baseline(run))


def test_importing_the_kit_with_optuna_adds_only_the_hook(run: Runner) -> None:
    plain = modules_after(run, "import optuna", env={"OSK_AUTOLOAD": "0"})
    both = modules_after(run, "import optuna, optuna_storage_kit", env={"OSK_AUTOLOAD": "0"})
    assert not top_levels(both - plain) & {*HEAVY, *BACKENDS}
    assert {m for m in both - plain if m.startswith("optuna_storage_kit")} == {
        "optuna_storage_kit",
        "optuna_storage_kit._activation",
        "optuna_storage_kit.errors",
        "optuna_storage_kit.runtime",
        "optuna_storage_kit.runtime.optuna_hook",
        "optuna_storage_kit.runtime.urls",
    }
    # The public names still resolve, on first use.
    code = "import optuna_storage_kit as osk\nprint(osk.Backend.__name__, osk.__version__)"
    out = run([sys.executable, "-c", code]).stdout.split()
    assert out[0] == "Backend" and out[1][0].isdigit()


def imported_by(run: Runner, venv_bin: Path, *args: str) -> tuple[set[str], str]:
    """The modules ``osk ARGS`` imports (from ``python -X importtime``), and its output."""
    result = run([sys.executable, "-X", "importtime", venv_bin / "osk", *args])
    names = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return names, result.stdout


@pytest.mark.parametrize("option", ["--version", "--help"])
def test_osk_version_and_help_import_neither_optuna_nor_a_backend(
    run: Runner, venv_bin: Path, option: str
) -> None:
    names, out = imported_by(run, venv_bin, option)
    assert "optuna_storage_kit.tools.cli" in names  # the measurement saw the command run
    assert not top_levels(names) & {"optuna", "sqlalchemy", "rich", "pluggy", *BACKENDS}
    if option == "--version":
        assert out.startswith("osk, version ")
    else:
        assert "backends" in out and "Installed plugins (" in out


def test_a_plugin_command_still_loads_its_plugin(run: Runner, venv_bin: Path) -> None:
    out = run([venv_bin / "osk", "journal", "--help"]).stdout
    assert "Usage: osk journal" in out


@pytest.mark.parametrize("url", ["optuna+memory://", "optuna+sqlite:///{tmp}/s.db"])
def test_opening_a_store_loads_no_other_backends_engine(
    run: Runner, url: str, tmp_path: Path
) -> None:
    """Every installed plugin's registration module is imported to find a scheme's backend;
    that must not import another backend's engine, driver or command line."""
    code = (
        "import optuna, optuna_storage_kit as osk\n"
        f"osk.open_storage({url.format(tmp=tmp_path)!r})\n"
        "assert len(osk.get_registry().backends()) >= 4  # the workspace's plugins all loaded"
    )
    loaded = modules_after(run, code)
    assert "osk_postgres._plugin" in loaded and "osk_journal._plugin" in loaded
    engines = {
        "asyncpg",
        "osk_postgres._storage",
        "osk_journal._storage",
        "osk_conformance._cli",
        "pytest",
        "click",
        "rich",
    }
    if url.startswith("optuna+memory"):
        engines.add("osk_sqlite._storage")
    assert not (loaded | top_levels(loaded)) & engines
