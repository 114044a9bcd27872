"""Snapshots (``PATH.snapshot``): faster opens, the journal untouched, bad snapshots ignored."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import types

import optuna
import pytest

import optuna_storage_kit as osk
from osk_journal import JournalFileStorage


def _objective(trial: optuna.Trial) -> float:
    trial.set_user_attr("n", trial.number)
    trial.report(1.0, 3)
    return trial.suggest_float("x", 0, 1) + trial.suggest_categorical("c", [1, 2])


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_open_from_snapshot_replays_only_the_rest(
    journal_path: str, helpers: types.ModuleType
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(_objective, n_trials=20)
    optuna.create_study(storage=storage, study_name="deleted")
    optuna.delete_study(study_name="deleted", storage=storage)
    study.enqueue_trial({"x": 0.5, "c": 2})
    journal_before = _digest(journal_path)
    snapshot = storage.snapshot()
    assert _digest(journal_path) == journal_before  # the journal itself is never rewritten
    n_at_snapshot = storage.inner._journal.state.n_ops
    study.optimize(_objective, n_trials=5)

    reopened = JournalFileStorage(journal_path)
    assert reopened._journal.replayed_at_open == reopened._journal.state.n_ops - n_at_snapshot
    assert reopened._journal.replayed_at_open < 40
    assert helpers.snapshot_of(reopened) == helpers.snapshot_of(storage)
    assert helpers.snapshot_of(helpers.optuna_journal(journal_path)) == helpers.snapshot_of(
        storage
    )
    # The restored state keeps working: distribution checks, new studies, ids.
    optuna.create_study(storage=reopened, study_name="deleted")
    optuna.load_study(storage=reopened, study_name="s").optimize(_objective, n_trials=2)
    assert helpers.snapshot_of(JournalFileStorage(journal_path, snapshot_every=0)) == (
        helpers.snapshot_of(reopened)
    )
    os.unlink(snapshot)
    assert helpers.snapshot_of(JournalFileStorage(journal_path)) == helpers.snapshot_of(reopened)


def test_snapshot_of_another_journal_is_ignored(
    journal_path: str, helpers: types.ModuleType, tmp_path: os.PathLike[str]
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    optuna.create_study(storage=storage, study_name="a").optimize(_objective, n_trials=10)
    storage.snapshot()
    other = os.path.join(str(tmp_path), "other.log")
    other_storage = osk.open_storage(helpers.url(other))
    optuna.create_study(storage=other_storage, study_name="b").optimize(_objective, n_trials=12)
    shutil.copy(journal_path + ".snapshot", other + ".snapshot")  # a stale, foreign snapshot
    reopened = JournalFileStorage(other, snapshot_every=0)
    assert reopened._journal.replayed_at_open == reopened._journal.state.n_ops
    assert [s.study_name for s in reopened.get_all_studies()] == ["b"]


def test_truncated_or_damaged_snapshot_is_ignored(
    journal_path: str, helpers: types.ModuleType
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    optuna.create_study(storage=storage, study_name="a").optimize(_objective, n_trials=10)
    path = storage.snapshot()
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    reopened = JournalFileStorage(journal_path, snapshot_every=0)
    assert reopened._journal.replayed_at_open == reopened._journal.state.n_ops
    assert helpers.snapshot_of(reopened) == helpers.snapshot_of(storage)


def test_long_replay_writes_a_snapshot_automatically(
    journal_path: str, helpers: types.ModuleType
) -> None:
    reference = helpers.optuna_journal(journal_path)
    optuna.create_study(storage=reference, study_name="a").optimize(_objective, n_trials=10)
    first = JournalFileStorage(journal_path, snapshot_every=20)
    assert first._journal.replayed_at_open > 20
    with open(journal_path + ".snapshot", "rb") as f:
        assert json.loads(f.read())["n_ops"] == first._journal.state.n_ops
    second = JournalFileStorage(journal_path, snapshot_every=20)
    assert second._journal.replayed_at_open == 0
    assert helpers.snapshot_of(second) == helpers.snapshot_of(reference)


def test_writers_keep_the_snapshot_recent(journal_path: str) -> None:
    storage = JournalFileStorage(journal_path, snapshot_every=4)  # writers: every 20 records
    study = optuna.create_study(storage=storage)
    study.optimize(_objective, n_trials=9)  # 1 + 9 x 6 = 55 records
    with open(journal_path + ".snapshot", "rb") as f:
        assert json.loads(f.read())["n_ops"] == 40
    reopened = JournalFileStorage(journal_path, snapshot_every=0)
    assert reopened._journal.replayed_at_open == 15


@pytest.mark.parametrize("writer", ["ours", "optuna"])
def test_non_finite_floats_survive_the_snapshot(
    journal_path: str, helpers: types.ModuleType, writer: str
) -> None:
    """Snapshots are written by orjson unless the state may hold NaN or an infinity, which
    orjson would write as null: a float from either writer, read back after a snapshot."""
    storage = (
        osk.open_storage(helpers.url(journal_path))
        if writer == "ours"
        else helpers.optuna_journal(journal_path)
    )
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(_objective, n_trials=3)
    trial = study.ask()
    trial.report(float("nan"), 1)
    trial.set_user_attr("big", float("-inf"))
    study.tell(trial, 1.0)
    JournalFileStorage(journal_path, snapshot_every=0).snapshot()
    reopened = JournalFileStorage(journal_path)
    assert reopened._journal.replayed_at_open == 0  # read from the snapshot
    last = reopened.get_all_trials(0)[-1]
    assert math.isnan(last.intermediate_values[1])
    assert last.user_attrs["big"] == float("-inf")
    # and a snapshot written by a state restored from that snapshot keeps them too
    reopened.snapshot()
    again = JournalFileStorage(journal_path).get_all_trials(0)[-1]
    assert math.isnan(again.intermediate_values[1]) and again.user_attrs["big"] == float("-inf")


def test_finite_study_snapshot_reads_back_equal(
    journal_path: str, helpers: types.ModuleType
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    study = optuna.create_study(storage=storage, study_name="s")
    study.set_user_attr("text", "é ü \u2603")
    study.optimize(_objective, n_trials=5)
    assert storage.inner._journal.state.finite
    storage.snapshot()
    with open(journal_path + ".snapshot", "rb") as f:
        assert json.loads(f.read())["finite"] is True
    reopened = JournalFileStorage(journal_path)
    assert reopened._journal.replayed_at_open == 0
    assert helpers.snapshot_of(reopened) == helpers.snapshot_of(
        helpers.optuna_journal(journal_path)
    )
