"""Fixtures for the journal backend's tests: real files in a fresh temporary directory."""

from __future__ import annotations

import importlib.util
import os
import types

import pytest


def _load_helpers() -> types.ModuleType:
    # pytest runs with --import-mode=importlib, so sibling modules are not importable by name.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers.py")
    spec = importlib.util.spec_from_file_location("osk_journal_test_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HELPERS = _load_helpers()


@pytest.fixture
def helpers() -> types.ModuleType:
    """The functions of ``helpers.py``: ``url``, ``optuna_journal``, ``worker``, ..."""
    return _HELPERS


@pytest.fixture
def journal_path(tmp_path: os.PathLike[str]) -> str:
    return os.path.join(str(tmp_path), "study.log")
