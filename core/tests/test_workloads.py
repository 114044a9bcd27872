"""The standard workload that osk bench, osk demo, osk certify and the benchmarks share."""

from __future__ import annotations

import optuna
import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.toolkit import workloads


def test_objective_suggests_the_declared_parameters_and_is_reproducible() -> None:
    def run() -> list[tuple[dict[str, float], float | None]]:
        study = optuna.create_study(
            storage=osk.open_storage("optuna+memory://"), sampler=workloads.sampler("random")
        )
        study.optimize(workloads.objective, n_trials=5)
        for trial in study.trials:
            assert trial.distributions == workloads.DISTRIBUTIONS
        return [(t.params, t.value) for t in study.trials]

    assert run() == run()


def test_finished_trials_add_to_a_study_with_every_part_set() -> None:
    study = optuna.create_study(storage=osk.open_storage("optuna+memory://"))
    study.add_trials(workloads.finished_trials(4))
    trials = study.get_trials(deepcopy=False)
    assert [t.value for t in trials] == [0.0, 1.0, 2.0, 3.0]
    assert all(t.distributions == workloads.DISTRIBUTIONS for t in trials)
    assert [t.user_attrs for t in trials] == [{"i": i} for i in range(4)]
    assert [t.intermediate_values for t in trials] == [{0: float(i)} for i in range(4)]


def test_unknown_sampler_names_the_known_ones() -> None:
    assert isinstance(workloads.sampler("tpe"), optuna.samplers.TPESampler)
    with pytest.raises(ValueError, match="random, tpe"):
        workloads.sampler("cmaes")
