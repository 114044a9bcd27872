"""SQLite backend for optuna-storage-kit with a Rust core: ``optuna+sqlite:///study.db``.

The file is in Optuna's own RDB schema, so ``optuna.storages.RDBStorage("sqlite:///study.db")``
and optuna-dashboard read it (and write it) too.

>>> import optuna, optuna_storage_kit
>>> study = optuna.create_study(storage="optuna+sqlite:///study.db")  # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from osk_sqlite._errors import (
    DiskFullError,
    SchemaMismatchError,
    SqliteStorageError,
    StoreClosedError,
)

try:
    __version__ = version("osk-sqlite")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DiskFullError",
    "SchemaMismatchError",
    "SqliteStorage",
    "SqliteStorageError",
    "StoreClosedError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # The storage imports the compiled core; load it only when asked for.
    if name == "SqliteStorage":
        from osk_sqlite._storage import SqliteStorage

        return SqliteStorage
    raise AttributeError(name)
