"""``osk info`` inspects without writing, and shows RUNNING trials; ``osk fail-trials`` fails
them. Run as a user runs them: subprocesses on real files and the real Postgres."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

OskCmd = Callable[..., subprocess.CompletedProcess[str]]
ErrorLine = Callable[..., str]

LONG_NAME = "a-study-whose-name-is-long-enough-to-be-folded-by-a-narrow-terminal-table"

# A process that leaves trials RUNNING and exits without telling anyone (a dead writer):
# trial 3 with a heartbeat when the storage has heartbeats, trial 4 without.
WRITER = """
import sys, optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
where = sys.argv[1]
if where.startswith("sqlite:") or where.startswith("postgresql"):
    storage = RDBStorage(where)
else:
    storage = JournalStorage(JournalFileBackend(where))
study = optuna.create_study(storage=storage, study_name=sys.argv[2])
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
first, second = study.ask(), study.ask()
if isinstance(storage, RDBStorage):
    storage.record_heartbeat(first._trial_id)
"""


def write_study(where: str, name: str = LONG_NAME) -> None:
    """Run :data:`WRITER` in its own process (never RDBStorage and our SQLite in one)."""
    subprocess.run([sys.executable, "-c", WRITER, where, name], check=True, timeout=600)


def digest(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (stores, -wal, -shm, locks) with its content hash."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def rows(out: str, first_cell: str, cells: int = 9) -> list[list[str]]:
    """Table rows starting with ``first_cell`` and of ``cells`` cells: 9 in the table of
    studies, 5 in that of RUNNING trials."""
    found = [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith(f"│ {first_cell}")
    ]
    return [row for row in found if len(row) == cells]


def states_of(where: str, name: str = LONG_NAME) -> list[str]:
    code = textwrap.dedent("""
        import sys, optuna
        from optuna.storages import JournalStorage, RDBStorage
        from optuna.storages.journal import JournalFileBackend
        where = sys.argv[1]
        storage = (RDBStorage(where) if "://" in where
                   else JournalStorage(JournalFileBackend(where)))
        study = optuna.load_study(study_name=sys.argv[2], storage=storage)
        print(",".join(t.state.name for t in study.trials))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code, where, name], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().split(",")


# -- 11: inspection never creates or changes anything ----------------------------------------
@pytest.mark.parametrize("location", ["sqlite:///{dir}/typo.db", "{dir}/typo.log"])
def test_info_on_a_missing_optuna_store_is_an_error_and_creates_nothing(
    osk_cmd: OskCmd, one_error_line: ErrorLine, tmp_path: Path, location: str
) -> None:
    result = osk_cmd("info", location.format(dir=tmp_path), check=False)
    line = one_error_line(result)
    assert "typo" in line and "no such" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_info_on_a_missing_kit_store_creates_nothing(
    osk_cmd: OskCmd, one_error_line: ErrorLine, tmp_path: Path, scheme: str
) -> None:
    """Our file backends: refused (no read_only yet) or StoreNotFoundError (with it)."""
    result = osk_cmd("info", f"optuna+{scheme}:///{tmp_path}/typo.db", check=False)
    one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def to_wal(path: Path) -> None:
    """Switch a SQLite file to WAL mode (as our SQLite backend keeps its files), in a child."""
    code = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=600)


@pytest.mark.parametrize("kind", ["sqlite", "sqlite-wal", "journal"])
def test_info_reads_optuna_files_without_changing_a_byte(
    osk_cmd: OskCmd, tmp_path: Path, kind: str
) -> None:
    where = str(tmp_path / "s.log") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    write_study(where)
    if kind == "sqlite-wal":
        to_wal(tmp_path / "s.db")
    before = digest(tmp_path)
    out = osk_cmd("info", where).stdout
    assert digest(tmp_path) == before
    assert "opened  read-only" in out
    [row] = rows(out, LONG_NAME)
    assert row[:5] == [LONG_NAME, "minimize", "5", "2", "3"]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_info_on_a_read_only_mount(tmp_path: Path, kind: str) -> None:
    """Read-only engines: Optuna's files can be inspected where nothing can be written (a
    read-only bind mount, which binds root too)."""
    where = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else str(tmp_path / "s.log")
    write_study(where)
    code = "from optuna_storage_kit.tools.cli import main; main()"
    script = (
        f"mount --bind {tmp_path} {tmp_path} && mount -o remount,bind,ro {tmp_path} && "
        f"touch {tmp_path}/probe 2>/dev/null && exit 9; "
        f'exec {sys.executable} -c "{code}" info {where}'
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    [row] = rows(result.stdout, LONG_NAME)
    assert row[:3] == [LONG_NAME, "minimize", "5"]


def test_info_leaves_another_applications_postgres_database_alone(
    osk_cmd: OskCmd, one_error_line: ErrorLine, pg_url: str
) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE customers (id integer)"))
    try:
        for url in (pg_url, "optuna+" + pg_url):
            line = one_error_line(osk_cmd("info", url, check=False))
            assert "nothing" in line or "read-only" in line
            with engine.connect() as connection:
                tables = sqlalchemy.inspect(connection).get_table_names()
            assert tables == ["customers"], f"osk info {url} created tables: {tables}"
    finally:
        engine.dispose()


def test_info_reads_an_optuna_postgres_database(osk_cmd: OskCmd, pg_url: str) -> None:
    write_study(pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    out = osk_cmd("info", pg_url).stdout
    [row] = rows(out, LONG_NAME)
    assert row[:5] == [LONG_NAME, "minimize", "5", "2", "3"]
    running = rows(out, LONG_NAME, cells=5)
    assert [r[1] for r in running] == ["3", "4"]
    assert running[0][4].endswith(" ago")  # trial 3's heartbeat, aged by the server's clock


# -- read_only backends get mode=ro; others are refused --------------------------------------
TEST_BACKENDS = """
import os, pathlib
import optuna_storage_kit as osk
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def open_store(url, options):
    mode = options.get("mode", "-")
    with open(os.environ["OSK_TEST_PROBE"], "a") as probe:
        probe.write(f"{url.scheme} {mode}\\n")
    path = pathlib.Path(url.database)
    if mode == "ro" and not path.exists():
        raise osk.StoreNotFoundError(f"{url}: no store at {str(path)!r}")
    return JournalStorage(JournalFileBackend(str(path)))


@osk.hookimpl
def register_backends(register):
    for name, caps in (
        ("rofile", osk.Capabilities(persistent=True, read_only=True)),
        ("rwfile", osk.Capabilities(persistent=True)),
    ):
        register(osk.Backend(name=name, schemes=(name,), version="1.0",
                             spec_version=osk.SPEC_VERSION, open=open_store, capabilities=caps))
"""


@pytest.fixture
def test_backends(
    installed_plugins: Callable[[str, str, str], None], tmp_path: Path
) -> tuple[str, Path]:
    """Two file backends, one claiming read_only; returns (prelude, probe file)."""
    installed_plugins("osk-test-files", "files", TEST_BACKENDS)
    return f"import sys; sys.path.insert(0, {str(tmp_path)!r})", tmp_path / "probe.txt"


def test_info_opens_a_read_only_backend_with_mode_ro(
    osk_cmd: OskCmd, one_error_line: ErrorLine, test_backends: tuple[str, Path], tmp_path: Path
) -> None:
    prelude, probe = test_backends
    env = {"OSK_TEST_PROBE": str(probe)}
    store = tmp_path / "store" / "s.log"
    store.parent.mkdir()

    missing = osk_cmd("info", f"optuna+rofile:///{store}", prelude=prelude, env=env, check=False)
    assert "no store at" in one_error_line(missing)
    assert not store.exists()

    write_study(str(store))
    before = digest(store.parent)
    out = osk_cmd("info", f"optuna+rofile:///{store}", prelude=prelude, env=env).stdout
    assert "backend  rofile 1.0" in out and "opened  read-only (mode=ro)" in out
    assert rows(out, LONG_NAME)[0][:4] == [LONG_NAME, "minimize", "5", "2"]
    assert digest(store.parent) == before
    assert probe.read_text() == "rofile ro\nrofile ro\n"

    given = osk_cmd(
        "info", f"optuna+rofile:///{store}?mode=rw", prelude=prelude, env=env, check=False
    )
    assert "drop mode=rw" in one_error_line(given)
    assert probe.read_text() == "rofile ro\nrofile ro\n"


def test_info_refuses_a_persistent_backend_without_read_only(
    osk_cmd: OskCmd, one_error_line: ErrorLine, test_backends: tuple[str, Path], tmp_path: Path
) -> None:
    prelude, probe = test_backends
    result = osk_cmd(
        "info",
        f"optuna+rwfile:///{tmp_path}/s.log",
        prelude=prelude,
        env={"OSK_TEST_PROBE": str(probe)},
        check=False,
    )
    line = one_error_line(result)
    assert "backend 'rwfile' cannot open" in line and "read_only capability" in line
    assert not probe.exists(), "the backend was opened"
    assert not (tmp_path / "s.log").exists()


# -- 10: RUNNING trials left by a dead writer, and failing them ------------------------------
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_info_shows_running_trials_and_how_to_fail_them(
    osk_cmd: OskCmd, tmp_path: Path, kind: str
) -> None:
    where = str(tmp_path / "s.log") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    write_study(where)
    out = osk_cmd("info", where).stdout
    running = rows(out, LONG_NAME, cells=5)
    assert [r[1] for r in running] == ["3", "4"]
    assert all(r[2].startswith("20") and r[3].endswith("s") for r in running)  # since, for
    if kind == "journal":  # Optuna's journal has no heartbeats
        assert [r[4] for r in running] == ["no heartbeat", "no heartbeat"]
    else:
        assert running[0][4].endswith(" ago") and running[1][4] == "no heartbeat"
    assert f"osk fail-trials {where} --study {LONG_NAME} --number 3 --number 4" in out


def test_fail_trials_by_number_and_age(
    osk_cmd: OskCmd, one_error_line: ErrorLine, tmp_path: Path
) -> None:
    where = str(tmp_path / "s.log")
    write_study(where)
    before = digest(tmp_path)

    usage = osk_cmd("fail-trials", where, "--study", LONG_NAME, check=False)
    assert "--number N" in one_error_line(usage, code=2)
    done = osk_cmd("fail-trials", where, "--study", LONG_NAME, "--number", "1", check=False)
    assert "trial 1 of study" in one_error_line(done) and "is COMPLETE, not RUNNING" in done.stderr
    dry = osk_cmd("fail-trials", where, "--study", LONG_NAME, "--number", "4", "--dry-run")
    assert "would be failed" in dry.stdout and "nothing was changed" in dry.stdout
    young = osk_cmd("fail-trials", where, "--study", LONG_NAME, "--older-than", "1d").stdout
    assert "nothing was changed" in young
    assert digest(tmp_path) == before

    out = osk_cmd("fail-trials", where, "--study", LONG_NAME, "--number", "4").stdout
    assert f"trial 4 of '{LONG_NAME}': failed" in out and "1 marked FAIL" in out
    assert states_of(where) == ["COMPLETE"] * 3 + ["RUNNING", "FAIL"]
    out = osk_cmd("fail-trials", where, "--study", LONG_NAME, "--older-than", "0s").stdout
    assert "1 marked FAIL" in out
    assert states_of(where) == ["COMPLETE"] * 3 + ["FAIL", "FAIL"]


# -- issue 14: info and demo take the same locations as copy and dashboard -------------------
def test_demo_runs_on_optuna_own_storages(osk_cmd: OskCmd, tmp_path: Path) -> None:
    for where in (f"sqlite:///{tmp_path}/d.db", str(tmp_path / "d.log")):
        out = osk_cmd("demo", "--url", where, "--trials", "20", "--no-compare").stdout
        assert "osk demo: 20 trials" in out and where in out
        names = rows(osk_cmd("info", where).stdout, "no-name-")
        assert [r[2] for r in names] == ["20"]
