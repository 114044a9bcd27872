"""The schema is Optuna's, exactly; other schema versions are refused with the fix named."""

from __future__ import annotations

import optuna
import pytest

import optuna_storage_kit as osk
from osk_postgres import SchemaVersionError

from .conftest import admin_execute, create_database, drop_database, kit_url, rdb_url

CATALOG = {
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, is_nullable,
               character_maximum_length, column_default
          FROM information_schema.columns WHERE table_schema = 'public'
         ORDER BY table_name, column_name""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace
         ORDER BY 1, 2""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname = 'public' ORDER BY 1, 2",
    "enums": "SELECT t.typname, e.enumlabel, e.enumsortorder FROM pg_enum e "
    "JOIN pg_type t ON t.oid = e.enumtypid ORDER BY 1, 3",
    "functions": "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    "version_info": "SELECT * FROM version_info",
    "alembic_version": "SELECT * FROM alembic_version",
}


def _catalog(database: str) -> dict[str, list[tuple]]:
    return {name: admin_execute(sql, database=database) for name, sql in CATALOG.items()}


def test_schema_is_exactly_rdbstorages(empty_tables: str) -> None:
    # The session database got its schema from this backend's first open.
    storage = osk.open_storage(kit_url(empty_tables))
    optuna.create_study(storage=storage).optimize(lambda t: t.suggest_int("i", 0, 3), n_trials=2)
    storage.inner.close()
    reference = create_database("osk_pg_ref")
    try:
        optuna.storages.RDBStorage(rdb_url(reference)).engine.dispose()
        ours, theirs = _catalog(empty_tables), _catalog(reference)
    finally:
        drop_database(reference)
    assert ours == theirs
    assert ours["version_info"][0][1] == 12
    assert ours["functions"] == []  # the backend's helper function lives in pg_temp only


def test_other_schema_version_is_refused(fresh_database: str) -> None:
    storage = osk.open_storage(kit_url(fresh_database))
    optuna.create_study(study_name="keep", storage=storage)
    storage.inner.close()
    admin_execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'", database=fresh_database)
    admin_execute("UPDATE version_info SET schema_version = 11", database=fresh_database)
    url = kit_url(fresh_database).replace("postgres@", "postgres:hunter2-secret@")
    with pytest.raises(SchemaVersionError) as info:
        osk.open_storage(url)
    message = str(info.value)
    assert "optuna storage upgrade --storage postgresql://postgres:***@" in message
    assert "version 11" in message and "v3.0.0.d" in message
    assert "hunter2" not in message
    # Nothing was touched.
    assert admin_execute("SELECT study_name FROM studies", database=fresh_database) == [("keep",)]


def _open_and_close(url: str, study: str, n: int, results: object) -> None:
    try:
        osk.open_storage(url).inner.close()
        results.put(("ok", ""))  # type: ignore[attr-defined]
    except BaseException as err:
        results.put(("error", repr(err)))  # type: ignore[attr-defined]


def test_many_processes_open_an_empty_database_at_once(fresh_database: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    url = kit_url(fresh_database, pool_size=1)
    procs = [ctx.Process(target=_open_and_close, args=(url, "", 0, results)) for _ in range(6)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert outcomes == [("ok", "")] * 6
    assert admin_execute("SELECT count(*) FROM version_info", database=fresh_database) == [(1,)]
