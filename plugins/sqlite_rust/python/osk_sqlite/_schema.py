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
import re
import sqlite3
import tempfile

import optuna
from optuna.storages._rdb import models

from osk_sqlite._errors import SchemaMismatchError

__all__ = ["Template", "alembic_revisions", "check_versions", "template"]


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


_REVISION = re.compile(r"""^(down_)?revision\s*=\s*(?:["']([^"']+)["']|None)""", re.M)


@functools.cache
def alembic_revisions() -> tuple[str | None, frozenset[str]]:
    """Return ``(head, all revisions)`` of the installed Optuna's RDB migrations.

    Read from the migration files' ``revision``/``down_revision`` lines: importing alembic
    costs about a second, and an existing file only needs this comparison.
    """
    folder = os.path.join(os.path.dirname(models.__file__), "alembic", "versions")
    revisions: set[str] = set()
    parents: set[str] = set()
    for name in os.listdir(folder):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for match in _REVISION.finditer(f.read()):
                if match.group(2) is None:
                    continue
                (parents if match.group(1) else revisions).add(match.group(2))
    heads = revisions - parents
    return (next(iter(heads)) if len(heads) == 1 else None), frozenset(revisions)


def _version_key(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_versions(found: tuple[int, str, str | None], *, path: str) -> None:
    """Raise :class:`SchemaMismatchError` unless ``found`` is the schema Optuna expects.

    RDBStorage accepts a file when its alembic revision is the head; so do we.
    """
    schema_version, library_version, alembic = found
    head_revision, known = alembic_revisions()
    if schema_version == models.SCHEMA_VERSION and alembic == head_revision:
        return
    head = f"schema {models.SCHEMA_VERSION}, revision {head_revision}"
    have = f"schema {schema_version}, revision {alembic}, written by Optuna {library_version}"
    newer = (
        schema_version > models.SCHEMA_VERSION
        or (alembic is not None and alembic not in known)
        or _version_key(library_version or "0") > _version_key(optuna.__version__)
    )
    if newer:
        fix = (
            "it was written by a newer Optuna: upgrade Optuna (`pip install -U optuna`) "
            "in this environment"
        )
    else:
        fix = (
            f"back the file up, then run `optuna storage upgrade --storage sqlite:///{path}` "
            "to bring it to the current schema"
        )
    raise SchemaMismatchError(
        f"{path} has an Optuna RDB schema this Optuna ({optuna.__version__}) cannot use "
        f"({have}; it needs {head}): {fix}"
    )
