"""The schema Optuna's RDBStorage creates, taken from Optuna itself, and the version check.

The DDL is never copied into this package: it is read, once per process, from an empty SQLite
file that :class:`optuna.storages.RDBStorage` (the installed Optuna) sets up, so a new file gets
exactly the tables, indexes, ``version_info`` and ``alembic_version`` rows RDBStorage expects.
The Rust core then applies it atomically (``BEGIN IMMEDIATE``), so many processes opening a new
file at once create it once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sqlite3
import tempfile

import optuna

from optuna_storage_kit.toolkit import rdb_schema
from osk_sqlite._errors import SchemaMismatchError

__all__ = ["Template", "check_versions", "template"]


@dataclasses.dataclass(frozen=True)
class Template:
    """DDL statements in creation order and the version rows RDBStorage writes."""

    ddl: tuple[str, ...]
    schema_version: int
    library_version: str
    alembic: str | None


@functools.cache
def template() -> Template:
    """Return the schema of the installed Optuna (computed once per process)."""
    with tempfile.TemporaryDirectory(prefix="osk-sqlite-schema-") as tmp:
        path = os.path.join(tmp, "template.db")
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
        storage.engine.dispose()
        with sqlite3.connect(path) as conn:
            ddl = tuple(
                sql
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
                )
            )
            (schema_version, library_version) = conn.execute(
                "SELECT schema_version, library_version FROM version_info"
            ).fetchone()
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    return Template(ddl, schema_version, library_version, row[0] if row else None)


def check_versions(found: tuple[int, str, str | None], *, path: str) -> None:
    """Raise :class:`SchemaMismatchError` unless ``found`` is the schema Optuna expects.

    RDBStorage accepts a file when its alembic revision is the head; so do we.
    """
    schema_version, library_version, alembic = found
    versions = rdb_schema.Versions(schema_version, alembic, library_version)
    problem = rdb_schema.check(versions, store=path, upgrade_url=f"sqlite:///{path}")
    if problem is not None:
        raise SchemaMismatchError(problem)
