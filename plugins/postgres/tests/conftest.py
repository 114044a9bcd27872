"""Fixtures: a fresh database on the real Postgres server for each test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
import sqlalchemy.engine

SERVER_URL = os.environ.get(
    "OSK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

TABLES = (
    "trial_heartbeats, trial_intermediate_values, trial_params, trial_system_attributes, "
    "trial_user_attributes, trial_values, trials, study_directions, study_system_attributes, "
    "study_user_attributes, studies"
)


def _server() -> sqlalchemy.engine.URL:
    return sqlalchemy.engine.make_url(SERVER_URL)


def admin_connect(database: str | None = None) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit) to the test server, for set-up and checks."""
    url = _server()
    conn = psycopg2.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=database or url.database or "postgres",
    )
    conn.autocommit = True
    return conn


def admin_execute(sql: str, params: tuple = (), database: str | None = None) -> list[tuple]:
    """Run one statement as the test server's admin user; return its rows (if any)."""
    conn = admin_connect(database)
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def create_database(prefix: str = "osk_pg_test") -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def kit_url(database: str, **query: object) -> str:
    """``optuna+postgresql://...`` for a database on the test server."""
    url = _server().set(drivername="optuna+postgresql", database=database)
    url = url.set(query={k: str(v) for k, v in query.items()})
    return url.render_as_string(hide_password=False)


def rdb_url(database: str) -> str:
    """The psycopg2 URL Optuna's RDBStorage takes for the same database."""
    url = _server().set(drivername="postgresql+psycopg2", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """One fresh database for the session, holding Optuna's schema; dropped afterwards."""
    name = create_database()
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database of its own for one test (for schema tests)."""
    name = create_database("osk_pg_one")
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def empty_tables(database: str) -> Iterator[str]:
    """The session database with every Optuna table emptied before the test."""
    import optuna_storage_kit as osk

    osk.open_storage(kit_url(database)).inner.close()  # make sure the schema exists
    admin_execute(f"TRUNCATE {TABLES}", database=database)
    yield database
