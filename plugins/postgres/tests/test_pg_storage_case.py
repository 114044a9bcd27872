"""Optuna's own storage test suite against the real Postgres server, in both write modes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase

import optuna_storage_kit as osk

from .conftest import kit_url


class TestPostgresStorage(StorageTestCase):
    @pytest.fixture(params=[False, True], ids=["write-through", "buffered"])
    def storage(self, request: pytest.FixtureRequest, empty_tables: str) -> Iterator[BaseStorage]:
        storage = osk.open_storage(kit_url(empty_tables, write_behind=request.param))
        yield storage
        storage.inner.close()
