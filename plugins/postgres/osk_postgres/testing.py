"""A certification factory for the conformance kit: a fresh Postgres database per store.

``osk certify --factory osk_postgres.testing:factory`` (or ``--all-installed``, through the
``osk_conformance.factories`` entry point). The server is ``OSK_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``). ``factory(directory)`` opens the database
named after ``directory``, creating it the first time, so that calling it again with the same
directory, from any process, reopens the same store. The databases this run made are dropped
when the process that first used the factory exits.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from typing import Any

import optuna_storage_kit as osk
import sqlalchemy.engine

__all__ = ["factory"]

_OWNER_VARIABLE = "OSK_PG_FACTORY_OWNER"


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


def _owner() -> str:
    owner = os.environ.get(_OWNER_VARIABLE)
    if owner is None:
        owner = os.environ[_OWNER_VARIABLE] = str(os.getpid())
        atexit.register(_drop_all, owner)
    return owner


def _drop_all(owner: str) -> None:
    if str(os.getpid()) != owner:
        return
    prefix = f"osk_cert_{owner}_"
    for (name,) in _admin(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
    ):
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def factory(directory: str, **options: Any) -> Any:
    """Open (creating if needed) the database for ``directory``; see the module doc."""
    digest = hashlib.sha1(os.path.abspath(directory).encode()).hexdigest()[:12]
    name = f"osk_cert_{_owner()}_{digest}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
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
