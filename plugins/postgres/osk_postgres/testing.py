"""A certification factory for the conformance kit: a fresh Postgres database per store.

``osk certify --factory osk_postgres.testing:factory`` (or ``--all-installed``, through the
``osk_conformance.factories`` entry point). The server is ``OSK_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``). ``factory(directory)`` opens the database
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
from typing import Any

import sqlalchemy.engine

import optuna_storage_kit as osk

__all__ = ["factory"]

_PREFIX = "osk_cert_"
_swept = False


def _server() -> sqlalchemy.engine.URL:
    return sqlalchemy.engine.make_url(
        os.environ.get("OSK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )


def _admin(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg2

    url = _server()
    conn = psycopg2.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
    )
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _sweep() -> None:
    """Drop certification databases whose directory is gone and that nobody is connected to."""
    rows = _admin(
        "SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d "
        "WHERE d.datname LIKE %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
        (_PREFIX + "%",),
    )
    for name, directory in rows:
        if directory and not os.path.exists(directory):
            # Someone may have connected meanwhile: then leave it for a later sweep.
            with contextlib.suppress(Exception):
                _admin(f'DROP DATABASE IF EXISTS "{name}"')


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
        _admin(f'CREATE DATABASE "{name}"')
        _admin(f'COMMENT ON DATABASE "{name}" IS %s', (path,))
    except Exception as err:  # already made by an earlier call (maybe in another process)
        if "already exists" not in str(err):
            raise
    url = _server().set(drivername="optuna+postgresql", database=name)
    return osk.open_storage(url.render_as_string(hide_password=False), **options)


def _declare() -> None:
    from osk_postgres._plugin import CAPABILITIES, THRESHOLDS, __version__

    factory.capabilities = CAPABILITIES  # type: ignore[attr-defined]
    factory.thresholds = THRESHOLDS  # type: ignore[attr-defined]
    factory.name = "postgres"  # type: ignore[attr-defined]
    factory.version = __version__  # type: ignore[attr-defined]


_declare()
