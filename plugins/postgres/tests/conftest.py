"""Fixtures: a fresh database on the real Postgres server for each test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from osk_postgres.testing import (
    admin_execute,
    create_database,
    drop_database,
    kit_url,
    server_url,
)

__all__ = ["admin_execute", "create_database", "drop_database", "kit_url", "rdb_url"]

TABLES = (
    "trial_heartbeats, trial_intermediate_values, trial_params, trial_system_attributes, "
    "trial_user_attributes, trial_values, trials, study_directions, study_system_attributes, "
    "study_user_attributes, studies"
)


def rdb_url(database: str) -> str:
    """The psycopg2 URL Optuna's RDBStorage takes for the same database."""
    url = server_url().set(drivername="postgresql+psycopg2", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """One fresh database for the session, holding Optuna's schema; dropped afterwards."""
    import optuna_storage_kit as osk

    name = create_database("osk_pg_test")
    try:
        osk.open_storage(kit_url(name)).inner.close()  # creates the schema, once
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
    # DELETE, children first: for a test's few rows far cheaper than TRUNCATE, which makes and
    # syncs new files for eleven tables (0.3 s a test here).
    admin_execute("; ".join(f"DELETE FROM {t}" for t in TABLES.split(", ")), database=database)
    yield database
