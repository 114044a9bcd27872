"""``osk journal compact | check | recover`` through the real ``osk`` command line."""

from __future__ import annotations

import os
import types

import optuna
from click.testing import CliRunner

import optuna_storage_kit as osk
from optuna_storage_kit.tools.cli import get_cli


def _journal(path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(path))
    optuna.create_study(storage=storage, study_name="s").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=4
    )


def test_compact_writes_a_snapshot(journal_path: str, helpers: types.ModuleType) -> None:
    _journal(journal_path, helpers)
    result = CliRunner().invoke(get_cli(), ["journal", "compact", journal_path])
    assert result.exit_code == 0, result.output
    assert "snapshot of 13 records" in result.output
    assert "1 studies, 4 trials" in result.output
    assert os.path.exists(journal_path + ".snapshot")


def test_check_and_recover(journal_path: str, helpers: types.ModuleType) -> None:
    _journal(journal_path, helpers)
    runner = CliRunner()
    result = runner.invoke(get_cli(), ["journal", "check", journal_path])
    assert result.exit_code == 0
    assert "13 records" in result.output and "intact" in result.output
    size = os.path.getsize(journal_path)
    with open(journal_path, "ab") as f:
        f.write(b"\x00\x00garbage\n")
        f.write(b'{"op_code":0,"worker_id":"w","study_name":"t","directions":[1]}\n')
    result = runner.invoke(get_cli(), ["journal", "check", journal_path])
    assert result.exit_code == 1
    assert f"corrupt at byte offset {size} (line 14)" in result.output
    assert "osk journal recover" in result.output
    result = runner.invoke(get_cli(), ["journal", "recover", journal_path])
    assert result.exit_code == 0, result.output
    # The study created after the garbage line is kept: it depends on nothing skipped.
    assert "kept 14 of 15 complete lines" in result.output
    assert f"skipped 1 bad line at bytes {size}-{size + 9} (10 bytes, line 14)" in result.output
    result = runner.invoke(get_cli(), ["journal", "check", journal_path])
    assert result.exit_code == 0
    assert "14 records" in result.output


def test_missing_file_is_a_usage_error(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(str(tmp_path), "nope.log")
    result = CliRunner().invoke(get_cli(), ["journal", "compact", missing])
    assert result.exit_code == 2
    assert "does not exist" in result.output
