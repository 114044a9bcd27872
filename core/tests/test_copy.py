"""``osk copy``, run as a user runs it: a subprocess on real files and the real Postgres."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import distribution_to_json
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk
from optuna_storage_kit.tools import copy as _copy

OskCmd = Callable[..., subprocess.CompletedProcess[str]]
"""The ``osk_cmd`` fixture (core/tests/conftest.py): runs the osk command line."""


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 1, 64, log=True)
    c = trial.suggest_categorical("c", [None, "a", 3, 2.5, True])
    trial.set_user_attr("nested", {"list": [1, 2.5, "s", None], "tuple": (1, 2), "nan": None})
    for step in range(3):
        trial.report([float("nan"), float("inf"), x][step], step)
    if n == 1:
        raise optuna.TrialPruned()
    if c == "a":
        raise RuntimeError("an objective that fails")
    return x**2 + n


def make_source(url: str) -> None:
    """Two studies exercising everything copy_study preserves."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        storage=url, study_name="single", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.set_user_attr("owner", {"name": "ana", "tags": ["x", "y"]})
    study._storage.set_study_system_attr(study._study_id, "origin", [1, "two", 3.5])
    study.optimize(_objective, n_trials=25, catch=(RuntimeError,))
    running = study.ask()
    running.set_user_attr("running", float("-inf"))
    study.enqueue_trial({"x": 1.0, "n": 2, "c": None}, user_attrs={"queued": True})
    multi = optuna.create_study(
        storage=url, study_name="multi", directions=["minimize", "maximize"]
    )
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)), n_trials=5)


def trials_as_json(trials: list[FrozenTrial]) -> list[str]:
    """An independent, complete view of a study's trials for comparing two storages."""
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        out.append(
            json.dumps(
                {
                    "number": t.number,
                    "state": t.state.name,
                    "values": t.values,
                    "params": t.params,
                    "distributions": {
                        k: distribution_to_json(d) for k, d in t.distributions.items()
                    },
                    "intermediate": sorted(t.intermediate_values.items()),
                    "start": str(t.datetime_start),
                    "complete": str(t.datetime_complete),
                    "user_attrs": t.user_attrs,
                    "system_attrs": t.system_attrs,
                },
                sort_keys=True,
            )
        )
    return out


def study_view(storage: BaseStorage | str, name: str) -> dict[str, Any]:
    study = optuna.load_study(study_name=name, storage=storage)
    return {
        "directions": [d.name for d in study.directions],
        "user_attrs": json.dumps(study.user_attrs, sort_keys=True),
        "system_attrs": json.dumps(
            study._storage.get_study_system_attrs(study._study_id), sort_keys=True
        ),
        "trials": trials_as_json(study.get_trials(deepcopy=False)),
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The source every test copies from (``osk copy`` only reads it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'src.db'}"
    make_source(url)
    return url


def journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def test_round_trip_sqlite_journal_postgres_sqlite(
    osk_cmd: OskCmd, tmp_path: Path, source: str, pg_url: str
) -> None:
    src = source
    log = tmp_path / "copy.log"
    back = f"sqlite:///{tmp_path / 'back.db'}"

    out = osk_cmd("copy", src, str(log)).stdout
    assert "2 studies, 32 trials copied and verified" in out
    osk_cmd("copy", str(log), pg_url)
    osk_cmd("copy", pg_url, back)

    states = {t.state for t in optuna.load_study(study_name="single", storage=src).trials}
    assert states == {s for s in TrialState}  # every state is exercised
    for name in ("single", "multi"):
        expected = study_view(src, name)
        assert study_view(journal(log), name) == expected
        pg = pg_url.replace("postgresql://", "postgresql+psycopg2://")
        assert study_view(RDBStorage(pg), name) == expected
        assert study_view(back, name) == expected


def test_copy_into_kit_backend_verifies(osk_cmd: OskCmd, tmp_path: Path, source: str) -> None:
    src = source
    out = osk_cmd("copy", src, "optuna+memory://copy-target", "--study", "multi").stdout
    assert "1 study, 5 trials copied and verified" in out
    row = next(line for line in out.splitlines() if "│ multi" in line)
    assert "minimize, maximize" in row and "yes" in row


def test_refuses_to_overwrite_without_flag(osk_cmd: OskCmd, tmp_path: Path, source: str) -> None:
    src = source
    dst = tmp_path / "dst.log"
    existing = optuna.create_study(storage=journal(dst), study_name="single")
    existing.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)

    refused = osk_cmd("copy", src, str(dst), check=False)
    assert refused.returncode != 0
    assert "already has 'single'; nothing was copied" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert [s.study_name for s in optuna.get_all_study_summaries(journal(dst))] == ["single"]
    assert len(optuna.load_study(study_name="single", storage=journal(dst)).trials) == 1

    osk_cmd("copy", src, str(dst), "--overwrite")
    for name in ("single", "multi"):
        assert study_view(journal(dst), name) == study_view(src, name)


def test_study_selection_and_errors(osk_cmd: OskCmd, tmp_path: Path, source: str) -> None:
    src = source
    dst = f"sqlite:///{tmp_path / 'dst.db'}"
    osk_cmd("copy", src, dst, "--study", "multi")
    names = [s.study_name for s in optuna.get_all_study_summaries(dst)]
    assert names == ["multi"]

    unknown = osk_cmd("copy", src, dst, "--study", "nope", check=False)
    assert unknown.returncode != 0
    assert "no study named 'nope' in the source; it has: 'single', 'multi'" in unknown.stderr

    missing = osk_cmd("copy", str(tmp_path / "typo.log"), dst, check=False)
    assert missing.returncode != 0 and "no such file" in missing.stderr
    assert not (tmp_path / "typo.log").exists()

    same = osk_cmd("copy", dst, dst, check=False)
    assert same.returncode != 0 and "same storage" in same.stderr
    # The same file under two spellings is the same storage too.
    relative = os.path.relpath(dst.removeprefix("sqlite:///"))
    same = osk_cmd("copy", dst, relative, "--overwrite", check=False)
    assert same.returncode != 0 and "same storage" in same.stderr
    assert [s.study_name for s in optuna.get_all_study_summaries(dst)] == ["multi"]


def test_password_never_shown(osk_cmd: OskCmd, tmp_path: Path, source: str) -> None:
    src = source
    result = osk_cmd("copy", src, "postgresql://bob:s3cr3t-pw@127.0.0.1:1/nodb", check=False)
    assert result.returncode != 0
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "***" in result.stderr


def test_verification_names_the_difference() -> None:
    src = osk.open_storage("optuna+memory://")
    dst = osk.open_storage("optuna+memory://")
    for storage, value in ((src, 1.0), (dst, 2.0)):
        study = optuna.create_study(storage=storage, study_name="s")
        study.add_trial(optuna.trial.create_trial(value=value))
    with pytest.raises(_copy.VerificationError, match=r"study 's', trial 0: values differ"):
        _copy.verify_study(src, 0, dst, 0)


KIT_SCHEMES = [s for s in ("sqlite", "journal", "postgresql") if s in osk.get_registry().schemes()]


@pytest.mark.parametrize("scheme", KIT_SCHEMES)
def test_round_trip_through_installed_kit_backend(
    osk_cmd: OskCmd, tmp_path: Path, source: str, scheme: str, pg_databases: Callable[[], str]
) -> None:
    if scheme == "postgresql":
        middle = "optuna+" + pg_databases()
    else:
        middle = f"optuna+{scheme}:///{tmp_path / ('kit.db' if scheme == 'sqlite' else 'kit.log')}"
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert "copied and verified" in osk_cmd("copy", source, middle).stdout
    osk_cmd("copy", middle, back)
    for name in ("single", "multi"):
        assert study_view(back, name) == study_view(source, name)


def test_locations_are_told_apart_by_url_or_file(tmp_path: Path, source: str) -> None:
    from optuna_storage_kit.tools.locations import classify

    sqlite_file = source.removeprefix("sqlite:///")
    assert classify(sqlite_file).kind == "optuna-rdb"  # an existing SQLite file, no scheme
    assert classify(sqlite_file).target == f"sqlite:///{Path(sqlite_file).resolve()}"
    assert classify(str(tmp_path / "new.log")).kind == "optuna-journal"
    assert classify("postgresql://u:pw@h/db").shown == "postgresql://u:***@h/db"
    assert classify("optuna+memory://").kind == "osk"
    with pytest.raises(osk.StorageKitError, match="is not a storage"):
        classify(str(tmp_path / "new.txt"))


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def test_overwrite_keeps_the_old_study_when_the_copy_fails(
    osk_cmd: OskCmd, one_error_line: Callable[..., str], tmp_path: Path
) -> None:
    """The new copy fails midway (trial 5 holds an attribute nested 150 levels deep, which
    Optuna's RDBStorage stores and the kit's serialization policy refuses): the study it was
    to replace is left whole, and no temporary study is left behind."""
    src = f"sqlite:///{tmp_path / 'src.db'}"
    source = optuna.create_study(storage=src, study_name="s")
    for i in range(10):
        attrs = {"deep": nested(150)} if i == 5 else {}
        source.add_trial(optuna.trial.create_trial(value=float(i), user_attrs=attrs))
    dst = f"optuna+journal:///{tmp_path / 'dst.log'}"
    if "journal" not in osk.get_registry().schemes():
        dst = f"optuna+sqlite:///{tmp_path / 'dst.db'}"
    old = optuna.create_study(storage=osk.open_storage(dst), study_name="s")
    for value in (100.0, 200.0):
        old.add_trial(optuna.trial.create_trial(value=value))
    expected = study_view(osk.open_storage(dst), "s")

    line = one_error_line(osk_cmd("copy", src, dst, "--overwrite", check=False))
    assert "nested more than 100 levels" in line
    after = osk.open_storage(dst)
    assert [s.study_name for s in after.get_all_studies()] == ["s"]
    assert study_view(after, "s") == expected

    source.set_user_attr("fixed", True)
    optuna.delete_study(study_name="s", storage=src)
    fixed = optuna.create_study(storage=src, study_name="s")
    fixed.add_trials([optuna.trial.create_trial(value=float(i)) for i in range(10)])
    osk_cmd("copy", src, dst, "--overwrite")
    after = osk.open_storage(dst)
    assert [s.study_name for s in after.get_all_studies()] == ["s"]
    assert study_view(after, "s") == study_view(src, "s")


def test_replacing_keeps_a_complete_copy_when_the_final_write_fails() -> None:
    """A failure after the old study is deleted (the disk fills while writing the final
    copy) leaves the verified temporary copy, and the error names it."""
    from optuna_storage_kit.default_plugins.memory import MemoryStorage

    class FillsUp(MemoryStorage):
        full = False

        def create_new_study(self, directions: Any, study_name: str | None = None) -> int:
            if self.full and study_name == "s":
                raise OSError(28, "No space left on device")
            return super().create_new_study(directions, study_name)

    src = osk.open_storage("optuna+memory://")
    optuna.create_study(storage=src, study_name="s").add_trials(
        [optuna.trial.create_trial(value=float(i)) for i in range(4)]
    )
    dst = FillsUp()
    optuna.create_study(storage=dst, study_name="s").add_trial(
        optuna.trial.create_trial(value=-1.0)
    )
    dst.full = True
    with pytest.raises(_copy.CopyIncompleteError, match="complete and verified") as raised:
        _copy.copy_studies(src, dst, ["s"], overwrite=True)
    [kept] = [s.study_name for s in dst.get_all_studies()]
    assert kept.startswith("s.osk-copy-") and repr(kept) in str(raised.value)
    assert study_view(dst, kept)["trials"] == study_view(src, "s")["trials"]


def test_copy_reads_its_source_without_writing(
    osk_cmd: OskCmd, one_error_line: Callable[..., str], tmp_path: Path, pg_url: str
) -> None:
    """SRC opens read-only: a database without Optuna's schema gets no tables."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE customers (id integer)"))
    line = one_error_line(osk_cmd("copy", pg_url, str(tmp_path / "dst.log"), check=False))
    assert "holds no Optuna storage" in line
    with engine.connect() as connection:
        assert sqlalchemy.inspect(connection).get_table_names() == ["customers"]
    engine.dispose()
    assert not (tmp_path / "dst.log").exists()
