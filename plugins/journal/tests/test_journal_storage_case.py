"""Optuna's own storage test suite against the journal backend, in every lock mode."""

from __future__ import annotations

import os

import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase

import optuna_storage_kit as osk


@pytest.fixture(params=["flock", "symlink", "open"])
def storage(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> BaseStorage:
    path = os.path.join(str(tmp_path), "study.log")
    return osk.open_storage(f"optuna+journal:///{path}?lock={request.param}")


class TestJournalStorage(StorageTestCase):
    pass
