"""Fixtures for the SQLite backend tests: real files in pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import optuna_storage_kit as osk
import pytest


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
