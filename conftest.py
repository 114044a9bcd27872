"""What every test session of this repository shares (``osk certify`` runs the kit's suite with
its own configuration)."""

from __future__ import annotations

import optuna
import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Optuna's log level, set once: its per-trial INFO lines would drown the output."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
