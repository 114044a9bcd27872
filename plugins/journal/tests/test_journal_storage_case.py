"""The conformance kit's API category (Optuna's own StorageTestCase and the kit's edge cases)
on the journal backend in every lock mode, through the kit's fixtures, as a SQLAlchemy dialect
runs the dialect suite."""

from __future__ import annotations

import pytest

from osk_conformance import Target
from osk_conformance.suite.test_api import *  # noqa: F403

osk_targets = [
    Target.from_url(f"optuna+journal:///{{dir}}/study.log?lock={lock}")
    for lock in ("flock", "symlink", "open")
]
# What the kit's own configuration (suite/kit.ini) lets pass: the heartbeat tests call
# Optuna's experimental heartbeat API outside Study.optimize.
pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning"),
]
