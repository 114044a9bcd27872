"""One database shared with Optuna's RDBStorage, in both directions."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

import optuna_storage_kit as osk

from .conftest import kit_url, rdb_url

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

TRIALS = [
    create_trial(
        params={"x": 0.25, "n": 3, "c": "b"},
        distributions={
            "x": FloatDistribution(0, 1),
            "n": IntDistribution(1, 9, log=True),
            "c": CategoricalDistribution(["a", "b", None]),
        },
        value=v,
        intermediate_values={0: 1.5, 1: math.nan, 2: math.inf, 3: -math.inf},
        user_attrs={"tags": ["a", 1], "nested": {"k": None}},
        system_attrs={"sys": 1.5},
    )
    for v in (1.0, math.inf, -math.inf, -2.5)
] + [create_trial(state=TrialState.FAIL), create_trial(state=TrialState.WAITING)]


def _snapshot(storage: object, name: str) -> list[tuple]:
    study = optuna.load_study(study_name=name, storage=storage)
    return [
        (
            t.number,
            t.state,
            t.values,
            t.params,
            t.distributions,
            {k: (str(v) if math.isnan(v) else v) for k, v in t.intermediate_values.items()},
            t.user_attrs,
            t.system_attrs,
            t.datetime_start,
            t.datetime_complete,
        )
        for t in study.get_trials()
    ] + [(study.directions, study.user_attrs, storage.get_study_system_attrs(study._study_id))]


def _fill(storage: object, name: str) -> None:
    study = optuna.create_study(study_name=name, storage=storage, directions=["minimize"])
    study.set_user_attr("owner", "me")
    study.set_metric_names(["loss"])
    study.add_trials(TRIALS)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)


@pytest.fixture
def storages(empty_tables: str):
    kit = osk.open_storage(kit_url(empty_tables))
    rdb = optuna.storages.RDBStorage(rdb_url(empty_tables))
    yield kit, rdb
    kit.inner.close()
    rdb.engine.dispose()


def test_kit_writes_rdbstorage_reads(storages: tuple) -> None:
    kit, rdb = storages
    _fill(kit, "from-kit")
    assert _snapshot(rdb, "from-kit") == _snapshot(kit, "from-kit")
    # optimize ran the enqueued (WAITING) trial and two new ones; the last item is the study.
    assert len(_snapshot(rdb, "from-kit")) == len(TRIALS) + 2 + 1


def test_rdbstorage_writes_kit_reads(storages: tuple) -> None:
    kit, rdb = storages
    _fill(rdb, "from-rdb")
    assert _snapshot(kit, "from-rdb") == _snapshot(rdb, "from-rdb")


def test_interleaved_writers_on_one_study(storages: tuple) -> None:
    kit, rdb = storages
    optuna.create_study(study_name="both", storage=kit)
    by_kit = optuna.load_study(study_name="both", storage=kit)
    by_rdb = optuna.load_study(study_name="both", storage=rdb)
    for _ in range(5):
        by_kit.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        by_rdb.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    # The kit's incremental read sees RDBStorage's trials, RDBStorage sees the kit's.
    assert [t.number for t in by_kit.trials] == list(range(20))
    assert _snapshot(kit, "both") == _snapshot(rdb, "both")
    # A trial the kit enqueues is run by an RDBStorage worker, once.
    by_kit.enqueue_trial({"x": 0.125})
    by_rdb.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    last = by_kit.trials[-1]
    assert (last.number, last.params, last.state) == (20, {"x": 0.125}, TrialState.COMPLETE)
