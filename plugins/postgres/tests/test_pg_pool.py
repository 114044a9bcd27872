"""The storage's own connection pool: bounded, and a connection the server closed while it
was idle is replaced without an error or a retry."""

from __future__ import annotations

import threading
import time

from optuna.study import StudyDirection

import optuna_storage_kit as osk

from .conftest import admin_execute, kit_url

_OURS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'osk-pool-test'"
)


def _ours(database: str) -> list[tuple[int, ...]]:
    """The test storage's connections to ``database``, as the server lists them."""
    return admin_execute(_OURS, (database,), database=database)


def test_a_connection_closed_while_idle_is_replaced(empty_tables: str) -> None:
    storage = osk.open_storage(kit_url(empty_tables, application_name="osk-pool-test")).inner
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "idle")
    (before,) = _ours(empty_tables)
    admin_execute("SELECT pg_terminate_backend(%s)", before, database=empty_tables)
    deadline = time.monotonic() + 10
    while _ours(empty_tables) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert storage.get_study_name_from_id(study_id) == "idle"
    assert storage.connection_stats() == {"reconnects": 0, "retries": 0}
    assert _ours(empty_tables) != [before]
    storage.close()


def test_threads_share_at_most_pool_size_connections(empty_tables: str) -> None:
    url = kit_url(empty_tables, application_name="osk-pool-test", pool_size=2)
    storage = osk.open_storage(url).inner
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "bounded")
    seen: set[int] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rows = _ours(empty_tables)
            seen.add(len(rows))

    def calls() -> None:
        for _ in range(30):
            storage.create_new_trial(study_id)

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=calls) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    sampler.join()
    assert len(storage.get_all_trials(study_id, deepcopy=False)) == 180
    assert max(seen) <= 2
    storage.close()
