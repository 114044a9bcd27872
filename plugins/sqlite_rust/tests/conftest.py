"""Fixtures for the SQLite backend tests: real files in pytest's tmp_path."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import optuna
import pytest

import optuna_storage_kit as osk


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "study.db"


@pytest.fixture
def url(db_path: Path) -> str:
    return f"optuna+sqlite:///{db_path}"


@pytest.fixture
def kit_storage(url: str) -> osk.KitStorage:
    return osk.open_storage(url)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"osk_sqlite_tests_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).parent
other = _load("_other")
"""Runs commands in other processes (RDBStorage, Python's sqlite3): see _workers.py."""
workers = _load("_workers")


@pytest.fixture
def in_other_process() -> ModuleType:
    return other


@pytest.fixture(name="workers")
def _workers_fixture() -> ModuleType:
    """The worker functions, for use in this process (e.g. ``comparable``)."""
    return workers
