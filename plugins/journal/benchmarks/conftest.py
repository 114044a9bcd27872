"""Fixtures for the journal benchmarks."""

from __future__ import annotations

import importlib.util
import os
import types

import pytest


@pytest.fixture(scope="session")
def common() -> types.ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_common.py")
    spec = importlib.util.spec_from_file_location("osk_journal_bench_common", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
