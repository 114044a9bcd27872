"""toolkit.breakdown: the layers add up to the trial, the calls and counters are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from optuna_storage_kit.toolkit import workloads
from optuna_storage_kit.toolkit.breakdown import breakdown


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """As the benchmarks run: at Optuna's default INFO level, each trial's log line asks the
    storage for the best trial and the study's system attributes (2 calls more)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


def _random() -> object:
    return workloads.sampler("random")


def _parts(figures: dict[str, object]) -> float:
    keys = ("optuna_us", "kit_checks_us", "backend_python_us", "core_us")
    return sum(float(figures[k]) for k in keys)  # type: ignore[arg-type]


def test_the_layers_add_up_to_the_trial_on_the_memory_backend() -> None:
    figures = breakdown("optuna+memory://", _random, 30, workloads.objective)
    assert figures["us_per_trial"] == pytest.approx(_parts(figures))
    assert figures["core_us"] == 0 and figures["core_us_by_call"] == {}
    # ask: the WAITING check, create, the trial's record; 3 params; tell; its record (the
    # study's first trial asks for a little more).
    assert 8 <= figures["storage_calls_per_trial"] < 8.1


def test_a_compiled_core_is_timed_by_call(tmp_path: Path) -> None:
    url = f"optuna+sqlite:///{tmp_path / 'b.db'}"
    figures = breakdown(url, _random, 30, workloads.objective, core_attribute="_native")
    assert figures["us_per_trial"] == pytest.approx(_parts(figures))
    by_call = figures["core_us_by_call"]
    assert isinstance(by_call, dict) and {"create_trial", "set_state"} <= set(by_call)
    assert figures["core_us"] > 0
    assert figures["commits_per_trial"] == 2  # the backend's own counters, per trial
