"""The record checks ``osk journal recover`` relies on: every record Optuna or this backend
writes passes them, and each kind of malformed record is named."""

from __future__ import annotations

import json
import os
import types

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

import optuna_storage_kit as osk
from osk_journal._records import problem
from osk_journal._salvage import analyze


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-3, 1.0, log=True)
    c = trial.suggest_categorical("c", ["a", None, 1.5])
    n = trial.suggest_int("n", 0, 9, step=3)
    trial.set_user_attr("nested", {"k": [1, 2.5, None]})
    trial.report(float("nan") if trial.number == 2 else x, 0)
    if trial.number % 4 == 3:
        raise optuna.TrialPruned()
    if trial.number % 5 == 4:
        raise RuntimeError("fails")
    return x + n + (0.5 if c is None else 0.0)


def _workload(storage: optuna.storages.BaseStorage) -> None:
    study = optuna.create_study(storage=storage, study_name="main")
    study.set_user_attr("owner", "tests")
    storage.set_study_system_attr(study._study_id, "big", float("inf"))
    study.enqueue_trial({"x": 0.5, "c": "a", "n": 3})
    study.optimize(_objective, n_trials=12, catch=(RuntimeError,))
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5, "c": None},
            distributions={
                "x": FloatDistribution(1e-3, 1.0, log=True),
                "c": CategoricalDistribution(["a", None, 1.5]),
            },
            value=4.0,
            intermediate_values={0: 1.0, 5: float("inf")},
        )
    )
    multi = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), 1.0), n_trials=2)
    optuna.delete_study(study_name=multi.study_name, storage=storage)
    optuna.create_study(storage=storage, study_name="waiting").enqueue_trial({"x": 0.0})


@pytest.mark.parametrize("writer", ["optuna", "ours"])
def test_every_written_record_passes(
    journal_path: str, helpers: types.ModuleType, writer: str
) -> None:
    storage = (
        helpers.optuna_journal(journal_path)
        if writer == "optuna"
        else osk.open_storage(helpers.url(journal_path))
    )
    _workload(storage)
    with open(journal_path, "rb") as f:
        lines = f.read().splitlines()
    assert len(lines) > 60
    assert [problem(json.loads(line)) for line in lines] == [None] * len(lines)
    fd = os.open(journal_path, os.O_RDONLY)
    try:
        salvage = analyze(fd)
    finally:
        os.close(fd)
    assert salvage.first_change is None and salvage.n_kept == len(lines)


_CHOICES = CategoricalDistribution(["a", "b"])


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"worker_id": "w"}, "unknown op_code None"),
        ({"op_code": 11, "worker_id": "w"}, "unknown op_code 11"),
        ({"op_code": True, "worker_id": "w"}, "unknown op_code True"),
        ({"op_code": 0, "study_name": "s", "directions": [1]}, "no 'worker_id'"),
        ({"op_code": 0, "worker_id": "w", "study_name": "s"}, "without its 'directions'"),
        ({"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [7]}, "'directions'"),
        ({"op_code": 1, "worker_id": "w", "study_id": -1}, "bad 'study_id'"),
        ({"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {}}, "bad 'user_attr'"),
        ({"op_code": 4, "worker_id": "w", "study_id": 0}, "without its 'datetime_start'"),
        ({"op_code": 4, "worker_id": "w", "study_id": 0, "datetime_start": "noon"}, "'datetime"),
        (
            {
                "op_code": 4,
                "worker_id": "w",
                "study_id": 0,
                "datetime_start": None,
                "params": {"x": 0.5},
            },
            "a parameter that has no distribution",
        ),
        (
            {
                "op_code": 4,
                "worker_id": "w",
                "study_id": 0,
                "datetime_start": None,
                "value": 1.0,
                "values": [1.0],
            },
            "both 'value' and 'values'",
        ),
        (
            {
                "op_code": 5,
                "worker_id": "w",
                "trial_id": 0,
                "param_name": "c",
                "param_value_internal": 7,
                "distribution": optuna.distributions.distribution_to_json(_CHOICES),
            },
            "a value its distribution cannot hold",
        ),
        (
            {
                "op_code": 5,
                "worker_id": "w",
                "trial_id": 0,
                "param_name": "x",
                "param_value_internal": 0.5,
                "distribution": '{"name": "Nope"}',
            },
            "bad 'distribution'",
        ),
        ({"op_code": 6, "worker_id": "w", "trial_id": 0, "state": 9, "values": None}, "'state'"),
        (
            {"op_code": 6, "worker_id": "w", "trial_id": 0, "state": 1, "values": None},
            "(finished) without a valid 'datetime_complete'",
        ),
        (
            {"op_code": 7, "worker_id": "w", "trial_id": 0, "step": "1", "intermediate_value": 1},
            "bad 'step'",
        ),
        ({"op_code": 8, "worker_id": "w", "trial_id": 0, "user_attr": [1]}, "bad 'user_attr'"),
    ],
)
def test_malformed_records_are_named(record: object, reason: str) -> None:
    found = problem(record)
    assert found is not None and reason in found, found
