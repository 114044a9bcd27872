"""Test helpers for the real Postgres server: a certification factory and admin statements.

The server is ``OSK_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth). Every admin statement opens its own short connection, so a helper keeps working
across a server restart (the suite restarts the server for real in CI).

The certification factory gives a fresh Postgres database per store.

``osk certify --factory osk_postgres.testing:factory`` (or ``--all-installed``, through the
``osk_conformance.factories`` entry point). ``factory(directory)`` opens the database
named after ``directory``, creating it the first time, so that calling it again with the same
directory, from any process, reopens the same store. A database is dropped by a later sweep
(at a process's first use of the factory and at its exit) once its directory no longer exists
and nobody is connected to it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import uuid
from typing import Any

import sqlalchemy.engine

import optuna_storage_kit as osk

__all__ = [
    "admin_connection",
    "admin_execute",
    "create_database",
    "drop_database",
    "factory",
    "kit_url",
    "server_url",
]

_PREFIX = "osk_cert_"
_swept = False


def server_url() -> sqlalchemy.engine.URL:
    """The test server's admin URL (``OSK_TEST_POSTGRES_URL``, or the local default)."""
    return sqlalchemy.engine.make_url(
        os.environ.get("OSK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )


def admin_connection(database: str | None = None) -> Any:
    """A new psycopg2 connection as the server's admin user, to ``database`` or the admin
    URL's (not autocommit: the caller commits, rolls back and closes it)."""
    import psycopg2

    url = server_url()
    return psycopg2.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=database or url.database or "postgres",
    )


def admin_execute(
    sql: str, params: tuple[Any, ...] = (), database: str | None = None
) -> list[tuple[Any, ...]]:
    """Run one statement as the server's admin user (autocommit, a connection of its own, in
    ``database`` or the admin URL's); return its rows, if any."""
    conn = admin_connection(database)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def create_database(prefix: str = "osk_test") -> str:
    """Create an empty database with a fresh name starting with ``prefix``; return the name."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    """Drop ``name`` (if it exists), disconnecting whoever is still connected."""
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def kit_url(database: str, **query: object) -> str:
    """``optuna+postgresql://...`` for ``database`` on the test server (query: options)."""
    url = server_url().set(drivername="optuna+postgresql", database=database)
    url = url.set(query={k: str(v) for k, v in query.items()})
    return url.render_as_string(hide_password=False)


def _sweep() -> None:
    """Drop certification databases whose directory is gone and that nobody is connected to."""
    rows = admin_execute(
        "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
        "WHERE d.datname LIKE %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
        (_PREFIX + "%",),
    )
    for name, directory in rows:
        if directory and not os.path.exists(directory):
            # Someone may have connected meanwhile: then leave it for a later sweep.
            with contextlib.suppress(Exception):
                admin_execute(f'DROP DATABASE IF EXISTS "{name}"')


def factory(directory: str, **options: Any) -> Any:
    """Open (creating if needed) the database for ``directory``; see the module doc."""
    global _swept
    if not _swept:
        _swept = True
        _sweep()
        atexit.register(_sweep)
    path = os.path.abspath(directory)
    name = _PREFIX + hashlib.sha1(path.encode()).hexdigest()[:20]
    try:
        admin_execute(f'CREATE DATABASE "{name}"')
        admin_execute(f'COMMENT ON DATABASE "{name}" IS %s', (path,))
    except Exception as err:  # already made by an earlier call (maybe in another process)
        if "already exists" not in str(err):
            raise
    return osk.open_storage(kit_url(name), **options)


def _declare() -> None:
    from osk_postgres._plugin import CAPABILITIES, THRESHOLDS, __version__

    factory.capabilities = CAPABILITIES  # type: ignore[attr-defined]
    factory.thresholds = THRESHOLDS  # type: ignore[attr-defined]
    factory.name = "postgres"  # type: ignore[attr-defined]
    factory.version = __version__  # type: ignore[attr-defined]


_declare()
