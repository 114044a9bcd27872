"""Files are shared with Optuna's RDBStorage in both directions, also while both are open."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import optuna
import optuna_storage_kit as osk
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial
from osk_sqlite import SchemaMismatchError


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 5)
    c = trial.suggest_categorical("c", ["a", "b", None])
    trial.set_user_attr("note", {"n": n, "c": c})
    trial.report(x * 2, step=1)
    trial.report(float("nan"), step=2)
    return (x - 2) ** 2 + n + (0.5 if c == "a" else 0.0)


def _comparable(t: optuna.trial.FrozenTrial) -> tuple:
    inter = {k: (None if math.isnan(v) else v) for k, v in t.intermediate_values.items()}
    return (
        t.number,
        t.state,
        t.values,
        t.params,
        t.distributions,
        t.user_attrs,
        t.system_attrs,
        inter,
        t.datetime_start,
        t.datetime_complete,
    )


def _dispose(study: optuna.Study) -> None:
    """Close RDBStorage's connection pool (Optuna wraps RDBStorage in a cache)."""
    storage = getattr(study._storage, "_backend", study._storage)
    storage.engine.dispose()


def _schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    conn.close()
    return rows


def test_new_file_has_exactly_rdbstorage_schema(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    osk.open_storage(f"optuna+sqlite:///{ours}")
    RDBStorage(f"sqlite:///{theirs}").engine.dispose()
    assert _schema(ours) == _schema(theirs)
    for path in (ours, theirs):
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT * FROM version_info").fetchall() == [
                (1, 12, optuna.__version__)
            ]
            assert conn.execute("SELECT * FROM alembic_version").fetchall() == [("v3.2.0.a",)]
        conn.close()


def test_rdbstorage_reads_what_we_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    url = f"optuna+sqlite:///{path}"
    study = optuna.create_study(
        study_name="ours", storage=url, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.set_user_attr("owner", "osk")
    study.optimize(_objective, n_trials=30)
    study.enqueue_trial({"x": 1.0, "n": 2, "c": "b"})
    study.add_trial(
        create_trial(
            params={"x": 0.5}, distributions={"x": FloatDistribution(-10, 10)}, value=math.inf
        )
    )
    multi = optuna.create_study(
        study_name="multi", storage=url, directions=["minimize", "maximize"]
    )
    multi.optimize(lambda t: (t.suggest_float("y", 0, 1), -math.inf), n_trials=3)
    theirs = optuna.load_study(study_name="ours", storage=f"sqlite:///{path}")
    assert theirs.user_attrs == {"owner": "osk"}
    assert [_comparable(t) for t in theirs.trials] == [_comparable(t) for t in study.trials]
    assert theirs.trials[30].state == TrialState.WAITING
    assert theirs.trials[31].value == math.inf
    theirs_multi = optuna.load_study(study_name="multi", storage=f"sqlite:///{path}")
    assert theirs_multi.directions == multi.directions
    assert [_comparable(t) for t in theirs_multi.trials] == [_comparable(t) for t in multi.trials]
    _dispose(theirs)


def test_we_read_what_rdbstorage_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    theirs = optuna.create_study(
        study_name="theirs",
        storage=f"sqlite:///{path}",
        sampler=optuna.samplers.RandomSampler(seed=2),
    )
    theirs.optimize(_objective, n_trials=20)
    theirs._storage.set_study_system_attr(theirs._study_id, "k", [1, 2])
    ours = optuna.load_study(study_name="theirs", storage=f"optuna+sqlite:///{path}")
    assert [_comparable(t) for t in ours.trials] == [_comparable(t) for t in theirs.trials]
    assert ours._storage.get_study_system_attrs(ours._study_id) == {"k": [1, 2]}
    assert ours.best_trial.number == theirs.best_trial.number
    # ... and continues the study: numbers go on, RDBStorage sees the new trials.
    ours.optimize(_objective, n_trials=5)
    assert [t.number for t in ours.trials] == list(range(25))
    assert len(theirs.trials) == 25
    _dispose(theirs)


def test_interleaved_writers_share_numbers(tmp_path: Path) -> None:
    """Both storages open on one file, taking turns: numbers stay unique and dense."""
    path = tmp_path / "s.db"
    ours = optuna.create_study(study_name="s", storage=f"optuna+sqlite:///{path}")
    theirs = optuna.load_study(study_name="s", storage=f"sqlite:///{path}")
    dist = {"x": IntDistribution(0, 100), "c": CategoricalDistribution(["u", "v"])}
    for i in range(10):
        for study in (ours, theirs):
            study.add_trial(
                create_trial(params={"x": i, "c": "u"}, distributions=dist, value=float(i))
            )
        running = ours.ask()
        theirs.tell(running.number, 0.5) if i % 2 else ours.tell(running, 0.5)
    for study in (ours, theirs):
        trials = study.get_trials()
        assert [t.number for t in trials] == list(range(30))
        assert all(t.state == TrialState.COMPLETE for t in trials)
    _dispose(theirs)


def test_older_schema_gets_upgrade_command(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    RDBStorage(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
        conn.execute("UPDATE version_info SET library_version = '3.0.0'")
    conn.close()
    with pytest.raises(SchemaMismatchError, match=r"optuna storage upgrade --storage sqlite:///"):
        osk.open_storage(f"optuna+sqlite:///{path}")
    # Nothing was changed: RDBStorage still sees the old revision.
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("v3.0.0.d",)
    conn.close()


def test_newer_schema_says_upgrade_optuna(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    RDBStorage(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v9.9.0.a'")
        conn.execute("UPDATE version_info SET library_version = '9.9.0'")
    conn.close()
    with pytest.raises(SchemaMismatchError, match=r"pip install -U optuna"):
        osk.open_storage(f"optuna+sqlite:///{path}")


def test_non_optuna_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE mine (x INTEGER)")
    conn.close()
    with pytest.raises(SchemaMismatchError, match="not an Optuna storage"):
        osk.open_storage(f"optuna+sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("mine",)]
    conn.close()
