"""The ``osk`` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import optuna_storage_kit as osk
from optuna_storage_kit.tools import cli

OskCmd = Callable[..., subprocess.CompletedProcess[str]]
"""The ``osk_cmd`` fixture (core/tests/conftest.py): runs the osk command line."""


def test_console_script_is_installed() -> None:
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "osk"), "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"osk, version {osk.__version__}"


def test_backends_lists_the_reference_backend(osk_cmd: OskCmd) -> None:
    out = osk_cmd("backends").stdout
    row = next(line for line in out.splitlines() if "optuna+memory://" in line)
    assert "memory" in row and "thread_safe, heartbeat" in row and "ok" in row
    assert "optuna-storage-kit" in row


def test_backends_options(osk_cmd: OskCmd) -> None:
    out = osk_cmd("backends", "--options").stdout
    assert "options of memory" in out and "heartbeat_interval" in out


def test_backends_shows_broken_plugins(installed_plugins: object, tmp_path: Path) -> None:
    installed_plugins("osk-broken", "broken", "raise ImportError('no driver here')\n")  # type: ignore[operator]
    runner = CliRunner()
    import optuna_storage_kit.runtime.registry as registry_module

    saved = registry_module._default
    registry_module._default = None  # a fresh default registry that sees the new plugin
    try:
        result = runner.invoke(cli.cli, ["backends"], env={"COLUMNS": "200"})
    finally:
        registry_module._default = saved
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ broken"))
    assert "osk-broken" in row and "ImportError: no driver here" in row


def test_info_shows_studies_and_states() -> None:
    url = "optuna+memory://cli-info"
    storage = osk.open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s1")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.5})
    result = CliRunner().invoke(cli.cli, ["info", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "backend  memory" in result.output
    row = next(line for line in result.output.splitlines() if "│ s1" in line)
    cells = [c.strip() for c in row.strip("│").split("│")]
    # study, directions, trials, RUNNING, COMPLETE, PRUNED, FAIL, WAITING, best
    assert cells[:8] == ["s1", "minimize", "4", "0", "3", "0", "0", "1"]


def test_info_masks_password_in_errors(osk_cmd: OskCmd) -> None:
    result = osk_cmd("info", "optuna+nosuch://bob:pa55word@host/db", check=False)
    assert result.returncode != 0
    assert "pa55word" not in result.stdout + result.stderr
    assert "no installed backend serves 'optuna+nosuch://'" in result.stderr


def test_demo_reports_trials_per_second(osk_cmd: OskCmd) -> None:
    out = osk_cmd("demo", "--trials", "60", "--url", "optuna+memory://").stdout
    assert "osk demo: 60 trials" in out
    row = next(line for line in out.splitlines() if line.startswith("│ memory"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert float(cells[3].replace(",", "")) > 0  # trials per second


def test_plugin_commands_are_added_and_failures_warned(
    registry: osk.Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    class Good:
        @osk.hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command(name="hello-plugin")
            def hello() -> None:
                click.echo(json.dumps({"hello": "plugin"}))

    class Bad:
        @osk.hookimpl
        def register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("cannot")

    registry.register_plugin(Good(), name="good")
    registry.register_plugin(Bad(), name="bad")
    group = click.Group("osk")
    warnings: list[str] = []
    registry.add_commands(group, warnings.append)
    assert "hello-plugin" in group.commands
    assert warnings == ["plugin 'bad' could not add commands: RuntimeError: cannot"]
    result = CliRunner().invoke(group, ["hello-plugin"])
    assert json.loads(result.output) == {"hello": "plugin"}
