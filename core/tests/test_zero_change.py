"""Swap the URL, change nothing else: the README's snippet, Optuna's CLI and optuna-dashboard.

Real processes of this workspace's virtual environment, none of which imports the kit: the
``.pth`` file that ``uv sync`` installed teaches Optuna the ``optuna+`` URLs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

README = Path(__file__).parents[2] / "README.md"
SPACE = json.dumps(
    {
        "x": {
            "name": "FloatDistribution",
            "attributes": {"low": 0.0, "high": 1.0, "log": False, "step": None},
        }
    }
)


def readme_snippet() -> str:
    """The README's first Python example, as users copy it."""
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_snippet_runs_as_it_is(run: Runner, tmp_path: Path) -> None:
    snippet = readme_snippet()
    assert "optuna_storage_kit" not in snippet  # no import line: the point of the exercise
    script = tmp_path / "seed.py"
    script.write_text(
        "def objective(trial):\n"
        "    return trial.suggest_float('x', -10, 10) ** 2\n\n"
        + snippet
        + "\nloaded = optuna.load_study(study_name=study.study_name, "
        "storage='optuna+sqlite:///fast.db')\n"
        "print(len(loaded.trials), type(loaded._storage).__name__, loaded.best_value < 1)\n"
    )
    out = run([sys.executable, script], cwd=tmp_path).stdout
    assert out.split() == ["1000", "KitStorage", "True"]
    assert (tmp_path / "fast.db").is_file()


# -- Optuna's command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test server, made by osk-postgres' certification factory.

    The factory names the database after a directory and drops it in a later sweep once the
    directory is gone (at the latest when this process exits).
    """
    from osk_postgres.testing import factory

    directory = tempfile.mkdtemp(prefix="osk-zero-change-")
    storage = factory(directory)
    url: str = storage.url.render(hide_password=False)
    storage.inner.close()
    yield url
    shutil.rmtree(directory)


@pytest.fixture(scope="module", params=["sqlite", "journal", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def store(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    directory = tmp_path_factory.mktemp(f"cli-{backend}")
    if backend == "sqlite":
        return f"optuna+sqlite:///{directory / 'cli.db'}"
    if backend == "journal":
        return f"optuna+journal:///{directory / 'cli.log'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
def flow(store: str, run: Runner, venv_bin: Path) -> dict[str, Any]:
    """create-study, ask, tell and trials on ``store``: four ``optuna`` processes."""
    optuna = venv_bin / "optuna"
    common = ["--storage", store, "--study-name", "cli"]
    created = run([optuna, "create-study", *common, "--direction", "minimize"]).stdout
    asked = json.loads(run([optuna, "ask", *common, "--search-space", SPACE]).stdout)
    run([optuna, "tell", *common, "--trial-number", str(asked["number"]), "--values", "0.25"])
    trials = json.loads(run([optuna, "trials", *common, "-f", "json"]).stdout)
    return {"created": created, "asked": asked, "trials": trials}


def test_ask_in_one_process_tell_in_another(flow: dict[str, Any]) -> None:
    assert flow["created"].split() == ["cli"]
    assert flow["asked"]["number"] == 0 and 0 <= flow["asked"]["params"]["x"] <= 1
    [trial] = flow["trials"]
    assert (trial["number"], trial["state"], trial["value"]) == (0, "COMPLETE", 0.25)


def test_an_asked_trials_params_outlive_the_ask_process(flow: dict[str, Any]) -> None:
    [trial] = flow["trials"]
    assert trial.get("params") == flow["asked"]["params"]


@pytest.fixture(scope="module")
def study_on_sqlite(tmp_path_factory: pytest.TempPathFactory, run: Runner) -> str:
    """An optuna+sqlite store with study 'cli' of 3 finished trials, made by a plain script."""
    url = f"optuna+sqlite:///{tmp_path_factory.mktemp('commands') / 'c.db'}"
    code = (
        "import optuna\n"
        f"s = optuna.create_study(storage={url!r}, study_name='cli')\n"
        "s.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=3)\n"
    )
    run([sys.executable, "-c", code])
    return url


@pytest.mark.parametrize(
    ("command", "check"),
    [
        (["studies", "-f", "json"], lambda out: json.loads(out)[0]["n_trials"] == 3),
        (["study-names"], lambda out: out.split() == ["cli"]),
        (["best-trial", "--study-name", "cli", "-f", "json"], lambda out: "number" in out),
        (["best-trials", "--study-name", "cli", "-f", "json"], lambda out: len(json.loads(out))),
    ],
    ids=["studies", "study-names", "best-trial", "best-trials"],
)
def test_optuna_read_commands(
    command: list[str],
    check: Callable[[str], Any],
    study_on_sqlite: str,
    run: Runner,
    venv_bin: Path,
) -> None:
    out = run([venv_bin / "optuna", *command, "--storage", study_on_sqlite]).stdout
    assert check(out), out


def test_optuna_set_user_attr_then_delete_study(
    tmp_path: Path, run: Runner, venv_bin: Path
) -> None:
    optuna = venv_bin / "optuna"
    url = f"optuna+journal:///{tmp_path / 'attrs.log'}"
    run([optuna, "create-study", "--storage", url, "--study-name", "gone"])
    attr = ["--key", "owner", "--value", "alice"]
    run([optuna, "study", "set-user-attr", "--storage", url, "--study-name", "gone", *attr])
    [study] = json.loads(run([optuna, "studies", "--storage", url, "-f", "json"]).stdout)
    assert study["user_attrs"] == {"owner": "alice"}
    run([optuna, "delete-study", "--storage", url, "--study-name", "gone"])
    assert run([optuna, "study-names", "--storage", url]).stdout.split() == []


def test_optuna_storage_from_the_environment(tmp_path: Path, run: Runner, venv_bin: Path) -> None:
    env = {"OPTUNA_STORAGE": f"optuna+journal:///{tmp_path / 'env.log'}"}
    run([venv_bin / "optuna", "create-study", "--study-name", "env"], env=env)
    assert run([venv_bin / "optuna", "study-names"], env=env).stdout.split() == ["env"]


def test_optuna_storage_upgrade_answers_that_it_does_not_apply(
    study_on_sqlite: str, run: Runner, venv_bin: Path
) -> None:
    database = Path(study_on_sqlite.removeprefix("optuna+sqlite:///"))
    before = database.read_bytes()
    result = run([venv_bin / "optuna", "storage", "upgrade", "--storage", study_on_sqlite])
    assert "'optuna storage upgrade' does not apply to optuna+ URLs" in result.stderr
    assert "nothing was changed" in result.stderr
    assert database.read_bytes() == before


def test_optuna_cli_errors_are_one_line(tmp_path: Path, run: Runner, venv_bin: Path) -> None:
    optuna = venv_bin / "optuna"
    url = f"optuna+journal:///{tmp_path / 'x.log'}"
    result = run(
        [optuna, "studies", "--storage", url, "--storage-class", "RDBStorage"], check=False
    )
    assert result.returncode == 1
    assert "--storage-class RDBStorage does not apply to optuna+ URLs" in result.stderr
    assert "Traceback" not in result.stderr
    result = run([optuna, "studies", "--storage", "optuna+nosuch://u:hunter2@h/db"], check=False)
    assert result.returncode == 1
    assert "no installed backend serves 'optuna+nosuch://'" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_optunas_own_urls_in_its_cli_go_where_they_went(
    tmp_path: Path, run: Runner, venv_bin: Path
) -> None:
    optuna = venv_bin / "optuna"
    rdb = f"sqlite:///{tmp_path / 'own.db'}"
    run([optuna, "create-study", "--storage", rdb, "--study-name", "own"])
    log = tmp_path / "own.log"
    log.touch()  # Optuna's CLI takes an existing file as a journal
    run([optuna, "create-study", "--storage", log, "--study-name", "own-journal"])
    code = (
        "import sqlite3, sys\n"
        "print(sqlite3.connect(sys.argv[1]).execute('select study_name from studies').fetchall())"
    )
    out = run([sys.executable, "-c", code, tmp_path / "own.db"]).stdout
    assert out.strip() == "[('own',)]"  # RDBStorage's schema, written by RDBStorage
    assert json.loads(log.read_text().splitlines()[0])["study_name"] == "own-journal"


# -- optuna-dashboard ---------------------------------------------------------------------------


def get_json(url: str, proc: subprocess.Popen[str], seconds: float = 300) -> Any:
    """GET ``url`` as JSON once the server answers (it may take long to start on a busy box)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    return None


def test_optuna_dashboard_serves_an_optuna_plus_url(
    study_on_sqlite: str, venv_bin: Path, free_port: int
) -> None:
    proc = subprocess.Popen(
        [venv_bin / "optuna-dashboard", study_on_sqlite, "--port", str(free_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = get_json(f"http://127.0.0.1:{free_port}/api/studies", proc)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert body is not None, f"optuna-dashboard never answered:\n{stderr}"
    [summary] = body["study_summaries"]
    assert summary["study_name"] == "cli"
