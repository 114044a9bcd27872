"""Fixtures for the journal backend's tests: real files in a fresh temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def journal_path(tmp_path: os.PathLike[str]) -> Iterator[str]:
    yield os.path.join(str(tmp_path), "study.log")
