"""The native async API and the ``aio`` view of the synchronous storage."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk
from osk_postgres import AsyncPostgresStorage

from .conftest import kit_url


def test_async_storage_concurrent_tasks(empty_tables: str) -> None:
    async def main() -> list[int]:
        async with AsyncPostgresStorage(kit_url(empty_tables), pool_size=3) as storage:
            study_id = await storage.create_new_study([StudyDirection.MINIMIZE], "aio")
            ids = await asyncio.gather(*(storage.create_new_trial(study_id) for _ in range(30)))
            dist = FloatDistribution(0, 1)
            await asyncio.gather(
                *(storage.set_trial_param(i, "x", n / 30, dist) for n, i in enumerate(ids))
            )
            await asyncio.gather(
                *(
                    storage.set_trial_state_values(i, TrialState.COMPLETE, [n / 30])
                    for n, i in enumerate(ids)
                )
            )
            trials = await storage.get_all_trials(study_id)
            with pytest.raises(KeyError):
                await storage.get_trial(max(ids) + 1000)
            assert storage.osk_counters()["round_trips"] > 0
            return sorted(t.number for t in trials)

    assert asyncio.run(main()) == list(range(30))
    # Everything is visible to a synchronous storage (and so to Optuna).
    storage = osk.open_storage(kit_url(empty_tables))
    study = optuna.load_study(study_name="aio", storage=storage)
    assert len(study.trials) == 30
    assert study.best_trial.params == {"x": 0.0}
    storage.inner.close()


def test_async_storage_needs_open(empty_tables: str) -> None:
    storage = AsyncPostgresStorage(kit_url(empty_tables))
    with pytest.raises(RuntimeError, match="not open"):
        asyncio.run(storage.get_all_studies())


def test_aio_view_of_sync_storage(empty_tables: str) -> None:
    storage = osk.open_storage(kit_url(empty_tables))
    study = optuna.create_study(study_name="view", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)

    async def main() -> tuple[int, list[int]]:
        study_id = await storage.aio.get_study_id_from_name("view")
        trial_id = await storage.aio.create_new_trial(study_id)
        await storage.aio.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
        trials = await storage.aio.get_all_trials(study_id, deepcopy=False)
        return study_id, [t.number for t in trials]

    study_id, numbers = asyncio.run(main())
    assert study_id == study._study_id
    assert numbers == [0, 1, 2, 3, 4]
    assert len(study.trials) == 5
    with pytest.raises(AttributeError):
        storage.aio.not_a_method  # noqa: B018
    storage.inner.close()


def test_threads_and_event_loops_share_the_synchronous_storage(empty_tables: str) -> None:
    # Six threads hand their calls to the storage's loop thread at once.
    storage = osk.open_storage(kit_url(empty_tables, pool_size=2))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=60, n_jobs=6)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(60))
    assert all(t.state == TrialState.COMPLETE for t in trials)

    async def blocking_call_inside_a_running_loop() -> int:  # Jupyter does this
        return len(storage.get_all_trials(study._study_id))

    assert asyncio.run(blocking_call_inside_a_running_loop()) == 60
    storage.inner.close()


def test_storage_collected_inside_another_storages_call_sends_its_writes(
    empty_tables: str,
) -> None:
    # Garbage collection can finalize a storage in the middle of another storage's loop run
    # (this deadlocked once). The finalizer must not block there: the kit's lifecycle thread
    # sends the collected storage's buffered writes and closes it afterwards.
    url = kit_url(empty_tables, flush_interval=3600)  # no timed flush during the test
    dropped = osk.open_storage(url).inner
    study_id = dropped.create_new_study([StudyDirection.MINIMIZE], "collected")
    trial_id = dropped.create_new_trial(study_id)
    dropped.set_trial_user_attr(trial_id, "sent", "by the finalizer")
    loop = dropped._engine.runner.loop
    live = osk.open_storage(url).inner
    holder = [dropped]
    del dropped

    async def collect_inside_the_loop() -> None:
        holder.clear()
        gc.collect()

    live._engine.runner.run(collect_inside_the_loop())
    deadline = time.monotonic() + 60
    while not loop.is_closed() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop.is_closed()
    assert live.get_trial(trial_id).user_attrs == {"sent": "by the finalizer"}
    live.close()


def test_many_threads_calling_at_once_all_finish(empty_tables: str) -> None:
    # Eight threads hand calls to the loop thread as fast as they can, switching as often as
    # the interpreter allows. (The calling threads once ran the loop in turns, and a thread
    # arriving just as another let go could wait forever: every call must return.)
    storage = osk.open_storage(kit_url(empty_tables, pool_size=2)).inner
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "turns")
    done: list[int] = []

    def calls() -> None:
        for _ in range(300):
            assert storage.get_study_name_from_id(study_id) == "turns"
        done.append(1)

    threads = [threading.Thread(target=calls, daemon=True) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: every window shows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert len(done) == 8, "a call never returned"
    storage.close()
