"""Category 6, capabilities: each claim the backend makes is held to, in its simplest form.

A test of a capability the backend does not claim is skipped with the reason shown; a claimed
capability that fails its test is a failure. (The concurrency, durability and heartbeat tests
in other categories hold the same claims to their full workloads.)
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study import StudyDirection
from optuna.trial import TrialState

from osk_conformance._async_driver import missing_async_methods
from osk_conformance._target import Target
from osk_conformance._workers import counters, optimize


@pytest.mark.osk_requires("persistent")
def test_persistent_reopen_sees_everything(osk_open: Callable[..., BaseStorage]) -> None:
    name = f"osk-{uuid.uuid4().hex}"
    study = optimize(osk_open(), name, 5)
    study.set_user_attr("kept", [1, "two"])
    expected = [(t.number, t.state, t.params, t.values) for t in study.trials]
    again = optuna.load_study(study_name=name, storage=osk_open())
    assert [(t.number, t.state, t.params, t.values) for t in again.trials] == expected
    assert again.user_attrs == {"kept": [1, "two"]}


@pytest.mark.osk_requires("thread_safe")
def test_thread_safe_shared_object(osk_storage: BaseStorage, osk_workers: int) -> None:
    study_id = osk_storage.create_new_study([StudyDirection.MINIMIZE], f"osk-{uuid.uuid4().hex}")

    def work(worker: int) -> None:
        for i in range(20):
            trial_id = osk_storage.create_new_trial(study_id)
            osk_storage.set_trial_user_attr(trial_id, "who", [worker, i])
            osk_storage.set_study_user_attr(study_id, f"w{worker}-{i}", i)
            osk_storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])

    with concurrent.futures.ThreadPoolExecutor(osk_workers) as pool:
        list(pool.map(work, range(osk_workers)))
    trials = osk_storage.get_all_trials(study_id)
    assert sorted(t.number for t in trials) == list(range(20 * osk_workers))
    assert sorted(tuple(t.user_attrs["who"]) for t in trials) == sorted(
        (w, i) for w in range(osk_workers) for i in range(20)
    )
    assert len(osk_storage.get_study_user_attrs(study_id)) == 20 * osk_workers


@pytest.mark.osk_requires("multi_process")
def test_multi_process_sees_other_writer(osk_open: Callable[..., BaseStorage]) -> None:
    first, second = osk_open(), osk_open()
    name = f"osk-{uuid.uuid4().hex}"
    study = optuna.create_study(storage=first, study_name=name)
    seen_before = optuna.load_study(study_name=name, storage=second)
    assert len(seen_before.trials) == 0
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(seen_before.trials) == 3, "a second storage object does not see new trials"


@pytest.mark.osk_requires("heartbeat")
def test_heartbeat_options_accepted(osk_open: Callable[..., BaseStorage]) -> None:
    storage = osk_open(heartbeat_interval=7, grace_period=20)
    assert isinstance(storage, BaseHeartbeat), "Optuna runs heartbeats on BaseHeartbeat only"
    assert storage.get_heartbeat_interval() == 7


@pytest.mark.osk_requires("counters")
def test_counters_are_monotonic_and_deterministic(
    osk_open: Callable[..., BaseStorage], osk_dir: object
) -> None:
    deltas = []
    for round_ in range(2):
        storage = osk_open(osk_dir / f"round{round_}")  # type: ignore[operator]
        before = counters(storage)
        assert before, "counters claimed but osk_counters() returned nothing"
        optimize(storage, f"osk-counted-{uuid.uuid4().hex}", 20)
        after = counters(storage)
        assert set(after) >= set(before)
        assert all(after[k] >= before.get(k, 0) for k in after), "counters went down"
        deltas.append({k: after[k] - before.get(k, 0) for k in after})
    assert deltas[0] == deltas[1], f"the same workload counted differently: {deltas}"
    assert any(deltas[0].values()), "counters did not move during 20 trials"


@pytest.mark.osk_requires("async_api")
def test_async_api_offers_the_contract(osk_storage: BaseStorage) -> None:
    """``storage.aio`` has every coroutine of ``optuna_storage_kit.spec.aio.AsyncStorage``
    (the API, model and serialization categories run through it too)."""
    aio = getattr(osk_storage, "aio", None)
    assert aio is not None, "async_api is claimed, but the storage has no .aio"
    missing = missing_async_methods(aio)
    assert not missing, f"storage.aio lacks the coroutine methods {', '.join(missing)}"


UNVERIFIABLE = {
    "multi_host": "needs workers on a second machine, which a one-machine run cannot provide "
    "(multi_process is held to its claim instead)",
}


@pytest.mark.parametrize("capability", sorted(UNVERIFIABLE))
def test_claims_this_kit_cannot_verify(osk_target: Target, capability: str) -> None:
    """Say so in the certificate, rather than let a claim look tested."""
    if not osk_target.has(capability):
        pytest.skip(f"{osk_target.name} does not claim capability {capability}")
    pytest.skip(
        f"{capability} is claimed but NOT verified by this kit: {UNVERIFIABLE[capability]}"
    )
