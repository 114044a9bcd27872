"""Optuna's own storage test suite with writes through one storage object and reads through
another, on a real file (the kit's API category runs on one object: test_sqlite_storage_case)."""

from __future__ import annotations

from typing import Any

import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase

import optuna_storage_kit as osk


class TestSqliteStorageSecondConnection(StorageTestCase):
    """The suite with writes through one storage object and reads through another.

    This is what a second process sees: every read goes through the incremental sync
    (`PRAGMA data_version`) of a connection that did not make the write. The writer commits
    at once (``write_behind=False``): with write-behind, a running trial's params reach other
    connections only at its state change or heartbeat, by design.
    """

    @pytest.fixture
    def storage(self, url: str) -> Any:
        return _TwoConnections(osk.open_storage(url, write_behind=False), osk.open_storage(url))


class _TwoConnections:
    """Writes go to ``writer``; ``get_*`` reads go to ``reader``."""

    def __init__(self, writer: BaseStorage, reader: BaseStorage) -> None:
        self._writer = writer
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        if name.startswith("get_"):
            return getattr(self._reader, name)
        return getattr(self._writer, name)

    def __getstate__(self) -> dict[str, Any]:
        return {"_writer": self._writer, "_reader": self._reader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
