"""Optuna's RDB schema on Postgres: create it exactly as RDBStorage does, or check it.

The schema is created by Optuna itself (one ``RDBStorage`` on the empty database, through
SQLAlchemy and psycopg2), so RDBStorage workers, this backend and optuna-dashboard share one
database. Creation runs under a session advisory lock so that many processes opening a fresh
database at once do not race (Optuna #1092).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from optuna_storage_kit import StorageKitError, StoreNotFoundError
from optuna_storage_kit.toolkit import rdb_schema

if TYPE_CHECKING:
    from osk_postgres._config import Settings

__all__ = ["SchemaVersionError", "ensure_schema"]

# An arbitrary constant: the advisory lock key taken while creating the schema.
_CREATE_LOCK_KEY = 0x6F736B5F706773  # "osk_pgs"


class SchemaVersionError(StorageKitError):
    """The database holds Optuna's schema at another version than this Optuna's."""


async def _read_versions(conn: Any) -> tuple[int | None, str | None] | None:
    """Return (schema_version, alembic revision), or None when the tables do not exist."""
    exists = await conn.fetchval(
        "SELECT to_regclass('version_info') IS NOT NULL AND to_regclass('trials') IS NOT NULL"
    )
    if not exists:
        return None
    row = await conn.fetchrow("SELECT schema_version FROM version_info WHERE version_info_id = 1")
    revision = None
    if await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        revision = await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
    return (row["schema_version"] if row else None), revision


def _create_with_optuna(settings: Settings) -> None:
    """Let Optuna's RDBStorage create the tables, version_info and alembic_version rows."""
    import optuna
    import sqlalchemy

    url = settings.url.with_scheme("postgresql+psycopg2").set(query=settings.psycopg2_query())
    storage = optuna.storages.RDBStorage(
        url.render_as_string(hide_password=False),
        engine_kwargs={"poolclass": sqlalchemy.pool.NullPool},
        skip_compatibility_check=True,
    )
    storage.engine.dispose()


def _check(versions: tuple[int | None, str | None], settings: Settings) -> None:
    problem = rdb_schema.check(
        rdb_schema.Versions(*versions),
        store=f"the database {settings.masked}",
        upgrade_url=settings.rdb_url_masked,
    )
    if problem is not None:
        raise SchemaVersionError(f"{problem} (with the real password in place of ***)")


async def ensure_schema(conn: Any, settings: Settings, run_blocking: Any) -> None:
    """Create Optuna's schema if the database has none; refuse another schema version.

    Args:
        conn: An asyncpg connection to the database.
        settings: The connection settings (for psycopg2 and messages).
        run_blocking: ``await run_blocking(fn, *args)`` runs blocking code off the event loop.

    With ``mode=ro`` nothing is created: a database without Optuna's tables is an error.

    Raises:
        SchemaVersionError: The database holds another schema version.
        StoreNotFoundError: ``mode=ro`` and the database holds no Optuna storage.
    """
    versions = await _read_versions(conn)
    if settings.read_only:
        if versions is None:
            host, port = settings.host_port()
            raise StoreNotFoundError(
                f"no Optuna storage in the database {host}:{port}/{settings.url.database} "
                f"({settings.masked}): it has no Optuna tables, and mode=ro creates nothing; "
                "open it without mode=ro to create them, or fix the database name"
            )
        _check(versions, settings)
        return
    if versions is None or None in versions:  # no schema, or one being created right now
        await conn.execute("SELECT pg_advisory_lock($1)", _CREATE_LOCK_KEY)
        try:
            versions = await _read_versions(conn)
            if versions is None:
                await run_blocking(_create_with_optuna, settings)
                versions = await _read_versions(conn)
            # Someone without our lock (RDBStorage itself) may still be writing the version
            # rows: give it a moment before calling the schema foreign.
            for _ in range(50):
                if versions is not None and None not in versions:
                    break
                await asyncio.sleep(0.1)
                versions = await _read_versions(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _CREATE_LOCK_KEY)
    _check(versions or (None, None), settings)
