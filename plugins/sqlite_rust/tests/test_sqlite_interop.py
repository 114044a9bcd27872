"""Files are shared with Optuna's RDBStorage in both directions, also while both run.

RDBStorage always runs in another process here (see _workers.py for why).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

import optuna_storage_kit as osk
from osk_sqlite import SchemaMismatchError


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 5)
    c = trial.suggest_categorical("c", ["a", "b", None])
    trial.set_user_attr("note", {"n": n, "c": c})
    trial.report(x * 2, step=1)
    trial.report(float("nan"), step=2)
    return (x - 2) ** 2 + n + (0.5 if c == "a" else 0.0)


def _here(workers: ModuleType, study: optuna.Study) -> dict[str, object]:
    """The same picture `_workers.py dump` prints, taken in this process."""
    url_free = {
        "directions": [d.name for d in study.directions],
        "user_attrs": study.user_attrs,
        "system_attrs": study._storage.get_study_system_attrs(study._study_id),
        "trials": [workers.comparable(t) for t in study.get_trials(deepcopy=False)],
    }
    return json.loads(json.dumps(url_free))  # type: ignore[no-any-return]


def test_new_file_has_exactly_rdbstorage_schema(
    tmp_path: Path, in_other_process: ModuleType
) -> None:
    other = in_other_process
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    osk.open_storage(f"optuna+sqlite:///{ours}").inner.close()
    other.run("create", f"sqlite:///{theirs}", "rdb")
    schema = "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
    versions = ("SELECT * FROM version_info", "SELECT * FROM alembic_version")
    ours_rows = other.queries(ours, schema, *versions)
    assert ours_rows == other.queries(theirs, schema, *versions)
    assert ours_rows[1:] == [[[1, 12, optuna.__version__]], [["v3.2.0.a"]]]


def test_rdbstorage_reads_what_we_write(
    tmp_path: Path, in_other_process: ModuleType, workers: ModuleType
) -> None:
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
    theirs = in_other_process.run("dump", f"sqlite:///{path}", "ours")
    assert theirs == _here(workers, study)
    assert theirs["trials"][30][1] == "WAITING"
    assert theirs["trials"][31][2] == [math.inf]
    assert in_other_process.run("dump", f"sqlite:///{path}", "multi") == _here(workers, multi)


def test_we_read_what_rdbstorage_writes(
    tmp_path: Path, in_other_process: ModuleType, workers: ModuleType
) -> None:
    path = tmp_path / "s.db"
    rdb_url = f"sqlite:///{path}"
    in_other_process.run("optimize", rdb_url, "theirs", 20)  # creates the study
    in_other_process.run("set_system_attr", rdb_url, "theirs", "[1, 2]")
    ours = optuna.load_study(study_name="theirs", storage=f"optuna+sqlite:///{path}")
    assert _here(workers, ours) == in_other_process.run("dump", rdb_url, "theirs")
    assert ours._storage.get_study_system_attrs(ours._study_id) == {"k": [1, 2]}
    # ... and continues the study: numbers go on, RDBStorage sees the new trials.
    ours.optimize(workers.objective, n_trials=5)
    assert [t.number for t in ours.trials] == list(range(25))
    assert in_other_process.run("dump", rdb_url, "theirs") == _here(workers, ours)


def test_rdbstorage_and_we_write_at_once(
    tmp_path: Path, in_other_process: ModuleType, workers: ModuleType
) -> None:
    """Both write one study at the same time: unique dense numbers, each sees all."""
    path = tmp_path / "s.db"
    study = optuna.create_study(study_name="s", storage=f"optuna+sqlite:///{path}")
    rdb = in_other_process.start("optimize", f"sqlite:///{path}", "s", 40)
    study.optimize(workers.objective, n_trials=60)
    _, err = rdb.communicate(timeout=300)
    assert rdb.returncode == 0, err.decode()
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(100))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert in_other_process.run("dump", f"sqlite:///{path}", "s") == _here(workers, study)


def test_older_schema_gets_upgrade_command(tmp_path: Path, in_other_process: ModuleType) -> None:
    path = tmp_path / "old.db"
    osk.open_storage(f"optuna+sqlite:///{path}").inner.close()  # the schema RDBStorage makes
    in_other_process.queries(
        path,
        "UPDATE alembic_version SET version_num = 'v3.0.0.d'",
        "UPDATE version_info SET library_version = '3.0.0'",
    )
    with pytest.raises(SchemaMismatchError, match=r"optuna storage upgrade --storage sqlite:///"):
        osk.open_storage(f"optuna+sqlite:///{path}")
    # Nothing was changed: the file still has the old revision.
    assert in_other_process.query(path, "SELECT version_num FROM alembic_version") == [
        ["v3.0.0.d"]
    ]


def test_newer_schema_says_upgrade_optuna(tmp_path: Path, in_other_process: ModuleType) -> None:
    path = tmp_path / "new.db"
    osk.open_storage(f"optuna+sqlite:///{path}").inner.close()
    in_other_process.query(path, "UPDATE alembic_version SET version_num = 'v9.9.0.a'")
    with pytest.raises(SchemaMismatchError, match=r"pip install -U optuna"):
        osk.open_storage(f"optuna+sqlite:///{path}")


def test_non_optuna_database_is_refused(tmp_path: Path, in_other_process: ModuleType) -> None:
    path = tmp_path / "other.db"
    in_other_process.run("query", str(path), "-", "CREATE TABLE mine (x INTEGER)")
    with pytest.raises(SchemaMismatchError, match="not an Optuna storage"):
        osk.open_storage(f"optuna+sqlite:///{path}")
    assert in_other_process.query(path, "SELECT name FROM sqlite_master") == [["mine"]]
