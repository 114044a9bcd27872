"""``mode=ro`` opens for inspection: read-only sessions, nothing created (not even a temporary
function), a database without Optuna's tables or a missing database is StoreNotFoundError.
Checked against the server's catalog before and after, and through ``osk info``."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest
from optuna.study import StudyDirection

import optuna_storage_kit as osk

from .conftest import admin_execute, kit_url, rdb_url

SECRET = "ro-secret"

CATALOG = """
SELECT 'namespace', nspname, '' FROM pg_namespace
UNION ALL
SELECT 'relation', n.nspname, c.relname || ':' || c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT 'function', n.nspname, p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
UNION ALL
SELECT 'type', n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
ORDER BY 1, 2, 3
"""


def _snapshot(database: str) -> list[tuple]:
    """The database's catalog and the contents of every user table."""
    found = admin_execute(CATALOG, database=database)
    tables = admin_execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        database=database,
    )
    for (table,) in tables:
        found += admin_execute(
            "SELECT %s, md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
            f'FROM "{table}" t',
            (table,),
            database=database,
        )
    return found


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


def _osk_info(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "osk"), "info", url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_another_applications_database_is_left_alone(fresh_database: str) -> None:
    admin_execute("CREATE TABLE customers (id integer, name text)", database=fresh_database)
    admin_execute("INSERT INTO customers VALUES (1, 'ada')", database=fresh_database)
    before = _snapshot(fresh_database)
    url = _with_password(kit_url(fresh_database, mode="ro"))
    with pytest.raises(osk.StoreNotFoundError) as info:
        osk.open_storage(url)
    message = str(info.value)
    assert f"127.0.0.1:5432/{fresh_database}" in message and "no Optuna" in message
    assert SECRET not in message
    done = _osk_info(url)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("Error: ")
    assert "no Optuna" in lines[0] and SECRET not in done.stderr + done.stdout
    assert _snapshot(fresh_database) == before


def test_missing_database_is_store_not_found() -> None:
    name = "osk_pg_never_created"
    with pytest.raises(osk.StoreNotFoundError) as info:
        osk.open_storage(_with_password(kit_url(name, mode="ro")))
    assert "127.0.0.1:5432" in str(info.value) and name in str(info.value)
    assert SECRET not in str(info.value) and info.value.__cause__ is None
    assert admin_execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)) == []


def _write_with_rdbstorage(database: str) -> None:
    """Optuna's own RDBStorage makes the schema and a study (in a process of its own)."""
    code = (
        "import optuna; optuna.logging.set_verbosity(optuna.logging.WARNING); "
        f"s = optuna.create_study(study_name='kept', storage={rdb_url(database)!r}); "
        "s.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=3)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_an_optuna_database_is_read_and_not_changed(fresh_database: str) -> None:
    _write_with_rdbstorage(fresh_database)
    before = _snapshot(fresh_database)
    storage = osk.open_storage(kit_url(fresh_database, mode="ro"))
    (study,) = storage.get_all_studies()
    assert study.study_name == "kept"
    assert len(storage.get_all_trials(study._study_id)) == 3
    with pytest.raises(osk.ReadOnlyStorageError):
        storage.create_new_study([StudyDirection.MINIMIZE], "new")
    with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
        storage.inner.create_new_study([StudyDirection.MINIMIZE], "new")  # the server refuses
    storage.inner.close()
    done = _osk_info(kit_url(fresh_database, mode="ro"))
    assert done.returncode == 0 and "kept" in done.stdout
    assert _snapshot(fresh_database) == before
