"""Optuna's RDB schema, for a backend that stores studies in RDBStorage's own tables.

Such a backend shares its store with :class:`optuna.storages.RDBStorage` (and
optuna-dashboard), so it must refuse a store whose schema is not the one the installed Optuna
writes, exactly as RDBStorage does, and encode values as RDBStorage does. This module holds
both rules:

* :func:`schema_version` and :func:`alembic_head` are what the installed Optuna writes
  (``version_info.schema_version`` and ``alembic_version.version_num``); :func:`check` reads a
  store's :class:`Versions` against them and words the refusal, with the fix (upgrade the
  store with ``optuna storage upgrade``, or upgrade Optuna when the store is newer);
* :func:`encode_value`, :func:`encode_intermediate` and :func:`decode_value` turn a float into
  the ``(value, value_type)`` pair of the ``trial_values`` and ``trial_intermediate_values``
  tables, and back (infinities and NaN are stored as a type with a NULL value).

The alembic revisions are read from the installed Optuna's migrations as alembic reads them
(merges included), without importing alembic; :func:`schema_version` imports Optuna's models
(SQLAlchemy), on the first call.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import os

import optuna
from packaging.version import InvalidVersion, Version

__all__ = [
    "Versions",
    "alembic_head",
    "alembic_revisions",
    "check",
    "decode_value",
    "encode_intermediate",
    "encode_value",
    "schema_version",
]


def schema_version() -> int:
    """``version_info.schema_version`` as the installed Optuna writes it."""
    from optuna.storages._rdb.models import SCHEMA_VERSION

    return int(SCHEMA_VERSION)


@functools.cache
def alembic_revisions() -> tuple[str, frozenset[str]]:
    """``(head, every revision)`` of the installed Optuna's RDB migrations (read once).

    Read as alembic's ``ScriptDirectory`` reads them, from each migration's module-level
    ``revision`` and ``down_revision`` (a merge names several), but parsed rather than
    imported: importing alembic, SQLAlchemy and the migrations would add more than half a
    second to opening a store. The core's tests check the result against ``ScriptDirectory``.

    Raises:
        RuntimeError: The migrations do not have exactly one head.
    """
    folder = os.path.join(_alembic_folder(), "versions")
    revisions: set[str] = set()
    parents: set[str] = set()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                found = _revision_of(f.read())
            if found is not None:
                revisions.add(found[0])
                parents.update(found[1])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(
            f"Optuna {optuna.__version__}'s migrations in {folder} have {len(heads)} heads "
            f"({', '.join(sorted(heads))}); expected one"
        )
    return heads.pop(), frozenset(revisions)


def _alembic_folder() -> str:
    from optuna.storages import _rdb

    return os.path.join(os.path.dirname(_rdb.__file__), "alembic")


def _revision_of(source: str) -> tuple[str, tuple[str, ...]] | None:
    """A migration's ``revision`` and its ``down_revision`` parents, from its source."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                values[target.id] = ast.literal_eval(value)
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str):
        return None
    parents = (down,) if isinstance(down, str) else tuple(down or ())  # type: ignore[arg-type]
    return revision, parents


def alembic_head() -> str:
    """``alembic_version.version_num`` as the installed Optuna writes it (e.g. ``v3.2.0.a``)."""
    return alembic_revisions()[0]


@dataclasses.dataclass(frozen=True)
class Versions:
    """The versions a store holds: ``None`` where its row is missing."""

    schema_version: int | None
    """``version_info.schema_version``."""
    alembic: str | None
    """``alembic_version.version_num``."""
    library_version: str | None = None
    """``version_info.library_version``: the Optuna that wrote the store, when read."""

    def is_current(self) -> bool:
        """The schema the installed Optuna writes (RDBStorage's own test: the alembic head)."""
        return self.schema_version == schema_version() and self.alembic == alembic_head()

    def is_newer(self) -> bool:
        """Written by a newer Optuna than the installed one (which cannot downgrade it)."""
        _, known = alembic_revisions()
        return (
            (self.schema_version or 0) > schema_version()
            or (self.alembic is not None and self.alembic not in known)
            or _is_later(self.library_version, optuna.__version__)
        )

    def describe(self) -> str:
        """E.g. ``schema version 11, alembic revision v3.0.0.d, written by Optuna 3.0.0``."""
        text = f"schema version {self.schema_version}, alembic revision {self.alembic}"
        if self.library_version is not None:
            text += f", written by Optuna {self.library_version}"
        return text


def check(found: Versions, *, store: str, upgrade_url: str) -> str | None:
    """Return ``None`` if the store holds the current schema, else why it cannot be used.

    Args:
        found: The versions the store holds.
        store: The store as the message names it (a path, a masked URL).
        upgrade_url: The ``--storage`` argument of ``optuna storage upgrade`` for this store
            (an RDBStorage URL, its password masked).

    Returns:
        One line naming what the store holds, what this Optuna needs and the fix, for the
        backend's own error class; ``None`` when the store can be used.
    """
    if found.is_current():
        return None
    if found.is_newer():
        fix = (
            "it was written by a newer Optuna: upgrade Optuna (`pip install -U optuna`) "
            "in this environment"
        )
    else:
        fix = (
            f"back it up, then run `optuna storage upgrade --storage {upgrade_url}` "
            "to bring it to the current schema, and open it again"
        )
    return (
        f"{store} holds Optuna's RDB schema {found.describe()}, which this Optuna "
        f"({optuna.__version__}) cannot use (it needs schema version {schema_version()}, "
        f"alembic revision {alembic_head()}): {fix}"
    )


def _is_later(stored: str | None, installed: str) -> bool:
    """Whether Optuna ``stored`` is a later release than ``installed`` (PEP 440: ``5.1.0.dev0``
    comes before ``5.1.0``); a version that does not parse is never later."""
    if stored is None:
        return False
    try:
        return Version(stored) > Version(installed)
    except InvalidVersion:
        return False


def encode_value(value: float) -> tuple[float | None, str]:
    """A trial value as ``trial_values`` stores it: ``(value, value_type)``."""
    if math.isinf(value):
        return None, "INF_POS" if value > 0 else "INF_NEG"
    return value, "FINITE"


def encode_intermediate(value: float) -> tuple[float | None, str]:
    """An intermediate value as ``trial_intermediate_values`` stores it (NaN allowed)."""
    if math.isnan(value):
        return None, "NAN"
    return encode_value(value)


def decode_value(value: float | None, kind: str) -> float:
    """The float stored as ``(value, value_type)`` by either table."""
    if kind == "INF_POS":
        return math.inf
    if kind == "INF_NEG":
        return -math.inf
    if kind == "NAN":
        return math.nan
    return float(value)  # type: ignore[arg-type]
