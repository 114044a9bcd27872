"""Exceptions of the SQLite backend (raised by the Rust core through these classes)."""

from __future__ import annotations

from optuna.exceptions import StorageInternalError

from optuna_storage_kit.errors import StorageKitError

__all__ = ["SchemaMismatchError", "SqliteStorageError"]


class SchemaMismatchError(StorageKitError, RuntimeError):
    """The file's Optuna schema is not the one the installed Optuna uses (the message says
    which command brings them together), or the file is not an Optuna database."""


class SqliteStorageError(StorageKitError, StorageInternalError):
    """SQLite failed, e.g. the file is not a database, the disk is full, or the database stayed
    locked longer than the ``timeout`` option. The message says what was being done."""
