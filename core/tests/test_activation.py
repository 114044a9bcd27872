"""Activation at interpreter start: the ``.pth`` file, its cost, ``OSK_AUTOLOAD=0``, failures.

Every test runs fresh interpreters of this virtual environment, where ``uv sync`` installed the
core in editable mode: the ``.pth`` file runs exactly as it does for a user.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

PTH_NAME = "optuna_storage_kit-autoload.pth"
PTH_SOURCE = Path(__file__).parents[1] / PTH_NAME
BUDGET_US = 2000  # what the .pth may cost at start-up when Optuna is never imported
OURS = ("optuna_storage_kit", "optuna_storage_kit._activation")

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def python(run: Runner, code: str, **kwargs: object) -> str:
    result = run([sys.executable, "-c", textwrap.dedent(code)], **kwargs)
    return str(result.stdout)


def test_pth_file_is_in_site_packages() -> None:
    installed = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    assert installed.read_text() == PTH_SOURCE.read_text()
    [line] = installed.read_text().splitlines()
    assert line.startswith("import ")  # the only kind of .pth line Python executes


def importtime(run: Runner, env: dict[str, str]) -> list[tuple[str, int]]:
    """(module, self microseconds) of every import of ``python -X importtime -c pass``."""
    stderr = run([sys.executable, "-X", "importtime", "-c", "pass"], env=env).stderr
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line.removeprefix("import time:").split("|")
            rows.append((name.strip(), int(self_us)))
    return rows


def test_start_up_cost_without_optuna(run: Runner, tmp_path: Path) -> None:
    # Measured with bytecode caches, as installed packages run after their first import (this
    # machine sets PYTHONDONTWRITEBYTECODE; the prefix keeps the caches out of the tree).
    env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    importtime(run, env)  # writes the caches
    # A busy machine only ever adds time: the fastest run is the cost. Stop at the first run
    # within budget; on a quiet machine that is the first.
    costs = []
    for _ in range(40):
        rows = importtime(run, env)
        costs.append(sum(us for name, us in rows if name in OURS))
        if costs[-1] < BUDGET_US:
            break
    assert min(costs) < BUDGET_US, f"the .pth costs {sorted(costs)} us at start-up"

    # It imports our two modules and nothing else, and registers one finder.
    off = {name for name, _ in importtime(run, {**env, "OSK_AUTOLOAD": "0"})}
    assert {name for name, _ in rows} - off == set(OURS)
    out = python(
        run,
        """
        import sys
        print(sorted(m for m in sys.modules if m.startswith(("optuna", "osk"))))
        print([type(f).__name__ for f in sys.meta_path][0])
        """,
    )
    assert out.splitlines() == [str(sorted(OURS)), "_PostImportFinder"]


SNIPPET = """
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(storage="optuna+memory://seed", study_name="s")
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
print(len(optuna.load_study(study_name="s", storage="optuna+memory://seed").trials))
"""


@pytest.mark.parametrize("value", ["0", "false", " OFF "])
def test_osk_autoload_0_leaves_optuna_as_it_was(run: Runner, value: str) -> None:
    result = run([sys.executable, "-c", SNIPPET], env={"OSK_AUTOLOAD": value}, check=False)
    assert result.returncode == 1
    # What Optuna says about an optuna+ URL without the kit: the URL went to RDBStorage.
    assert "NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:optuna.memory" in (
        result.stderr
    )
    out = python(
        run,
        """
        import sys, optuna
        print(sorted(m for m in sys.modules if m.startswith("optuna_storage_kit")))
        print(optuna.storages.get_storage.__module__)
        """,
        env={"OSK_AUTOLOAD": value},
    )
    assert out.splitlines() == ["[]", "optuna.storages"]


def test_an_explicit_import_still_activates_with_osk_autoload_0(run: Runner) -> None:
    for first in ("import optuna_storage_kit", "import optuna; import optuna_storage_kit"):
        out = python(run, first + "\n" + SNIPPET, env={"OSK_AUTOLOAD": "0"})
        assert out.split() == ["5"]


def test_autoloaded_snippet_and_optunas_own_urls(run: Runner, tmp_path: Path) -> None:
    out = python(
        run,
        SNIPPET
        + f"""
from optuna.storages import InMemoryStorage, RDBStorage, _CachedStorage, get_storage
own = get_storage("sqlite:///{tmp_path / "own.db"}")
print(type(own).__name__, type(own._backend).__name__)
print(type(get_storage(None)).__name__)
memory = InMemoryStorage()
print(get_storage(memory) is memory)
""",
    )
    assert out.splitlines() == ["5", "_CachedStorage RDBStorage", "InMemoryStorage", "True"]


def test_the_finder_removes_itself_once_every_target_is_patched(run: Runner) -> None:
    out = python(
        run,
        """
        import sys
        from optuna_storage_kit import _activation
        from optuna_storage_kit.runtime.optuna_hook import wrapped

        def finders():
            return [type(f).__name__ for f in sys.meta_path].count("_PostImportFinder")

        import optuna
        print(finders(), sorted(_activation.pending()), wrapped("optuna.storages"))
        import optuna.cli
        print(finders(), sorted(_activation.pending()), wrapped("optuna.cli"))
        import optuna_dashboard
        print(finders(), sorted(_activation.pending()), wrapped("optuna_dashboard._storage_url"))
        """,
    )
    assert out.splitlines() == [
        "1 ['optuna.cli', 'optuna_dashboard._storage_url'] ['optuna.storages.get_storage']",
        "1 ['optuna_dashboard._storage_url'] "
        "['optuna.cli._StorageUpgrade.take_action', 'optuna.cli._get_storage']",
        "0 [] ['optuna_dashboard._storage_url.guess_storage_from_url']",
    ]


def fake_dashboard(root: Path, storage_url_module: str) -> dict[str, str]:
    """An ``optuna_dashboard`` package that shadows the real one; returns the env to use it."""
    package = root / "optuna_dashboard"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_storage_url.py").write_text(textwrap.dedent(storage_url_module))
    return {"PYTHONPATH": str(root)}


CHECK_FAKE = """
import logging
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
from optuna_dashboard import _storage_url
print(_storage_url.guess_storage_from_url("optuna+memory://"))
"""


def test_a_changed_signature_steps_aside_with_a_debug_line(run: Runner, tmp_path: Path) -> None:
    env = fake_dashboard(
        tmp_path,
        """
        def guess_storage_from_url(url, storage_class=None):
            return "the original"
        """,
    )
    result = run([sys.executable, "-c", CHECK_FAKE], env=env)
    assert result.stdout.split("\n")[0] == "the original"
    assert (
        "optuna_storage_kit DEBUG optuna_dashboard._storage_url.guess_storage_from_url takes "
        "(url, storage_class), not (storage_url)"
    ) in result.stderr


def test_a_failure_while_patching_is_logged_and_leaves_the_module(
    run: Runner, tmp_path: Path
) -> None:
    env = fake_dashboard(
        tmp_path,
        """
        class _Guess:
            @property
            def __signature__(self):
                raise RuntimeError("cannot look at me")

            def __call__(self, storage_url):
                return "the original"

        guess_storage_from_url = _Guess()
        """,
    )
    result = run([sys.executable, "-c", CHECK_FAKE], env=env)
    assert result.stdout.split("\n")[0] == "the original"
    assert (
        "optuna_storage_kit DEBUG cannot teach optuna_dashboard._storage_url optuna+ URLs; it "
        "is left as it was: RuntimeError: cannot look at me"
    ) in result.stderr


def test_a_failing_import_of_a_target_fails_as_without_the_kit(
    run: Runner, tmp_path: Path
) -> None:
    env = fake_dashboard(tmp_path, "raise ImportError('broken on purpose')\n")
    code = """
    import sys
    for attempt in range(2):
        try:
            import optuna_dashboard._storage_url
        except ImportError as err:
            print(err)
    print([type(f).__name__ for f in sys.meta_path].count("_PostImportFinder"))
    """
    out = python(run, code, env=env)
    assert out.splitlines() == ["broken on purpose", "broken on purpose", "1"]
