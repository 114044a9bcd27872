"""Exceptions of the SQLite backend.

They are defined by the compiled core (``_native``), which raises them, so Python never has to
recognise an error by its message. Their bases are Python classes: every one is a
:class:`~optuna_storage_kit.errors.StorageKitError`.
"""

from __future__ import annotations

from osk_sqlite._native import (
    DiskFullError,
    SchemaMismatchError,
    SqliteStorageError,
    StoreClosedError,
)

__all__ = ["DiskFullError", "SchemaMismatchError", "SqliteStorageError", "StoreClosedError"]
