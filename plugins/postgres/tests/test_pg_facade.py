"""The synchronous facade under stress: Ctrl-C in a call that waits on the server, many
threads, finalizers run by garbage collection in the middle of calls, and fork."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import psycopg2
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk
from osk_postgres.testing import admin_connection

from .conftest import kit_url

_CHILD = """
import signal
import sys
from optuna.trial import TrialState
import optuna_storage_kit as osk

# Ctrl-C raises KeyboardInterrupt, as in a terminal. A process started in the background by a
# non-interactive shell (a CI job's `cmd &`) has SIGINT ignored, and its children inherit that.
signal.signal(signal.SIGINT, signal.default_int_handler)

storage = osk.open_storage(sys.argv[1]).inner
trial_id = int(sys.argv[2])
for attempt in (1, 2):  # the second Ctrl-C interrupts as promptly as the first
    sys.stdin.readline()  # the test's go: no earlier statement still waits on the server
    print("calling", attempt, flush=True)
    try:
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(attempt)])
    except KeyboardInterrupt:
        print("interrupted", attempt, flush=True)
    else:
        print("not interrupted", flush=True)
        sys.exit(1)
# Still usable: a call that takes no lock answers, then the storage closes cleanly.
print("study", storage.get_study_name_from_id(int(sys.argv[3])), flush=True)
storage.close()
print("closed", flush=True)
"""


@pytest.fixture
def locker(empty_tables: str) -> Iterator[psycopg2.extensions.connection]:
    """A psycopg2 connection of its own (not autocommit) in the test database."""
    conn = admin_connection(empty_tables)
    yield conn
    conn.close()


def _waiting_on_a_lock(
    conn: psycopg2.extensions.connection, deadline: float, *, until: bool = True
) -> bool:
    """Whether another session of this database waits on a lock, asked until the answer is
    ``until`` or ``deadline`` passed (at least once). Only this database: tests running beside
    this one hold and wait for locks of their own."""
    with conn.cursor() as cur:
        while True:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            waiting = bool(cur.fetchone()[0])
            if waiting == until or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.02)


def test_ctrl_c_interrupts_a_call_waiting_on_a_row_lock(
    empty_tables: str, locker: psycopg2.extensions.connection
) -> None:
    url = kit_url(empty_tables, write_behind=False)
    storage = osk.open_storage(url).inner
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "locked")
    trial_id = storage.create_new_trial(study_id)
    storage.close()  # the child is not this trial's owner: its write goes to the row
    with locker.cursor() as cur:  # held until the end of the test
        cur.execute("SELECT * FROM trials WHERE trial_id = %s FOR UPDATE", (trial_id,))
    with contextlib.closing(admin_connection(empty_tables)) as watcher:
        watcher.autocommit = True
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CHILD), url, str(trial_id), str(study_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        watchdog = threading.Timer(60, child.kill)  # a hung child fails the test, not CI
        watchdog.start()
        try:
            for attempt in (1, 2):
                # The interrupted statement's cancel has reached the server: a session found
                # waiting below is the child's new call, not the old one.
                assert not _waiting_on_a_lock(watcher, time.monotonic() + 30, until=False)
                child.stdin.write("go\n")
                child.stdin.flush()
                assert child.stdout.readline().split() == ["calling", str(attempt)]
                assert _waiting_on_a_lock(watcher, time.monotonic() + 30)
                child.send_signal(signal.SIGINT)
                assert child.stdout.readline().split() == ["interrupted", str(attempt)]
            assert child.stdout.readline().split() == ["study", "locked"]
            assert child.stdout.readline().split() == ["closed"]
            assert child.wait(timeout=30) == 0
        finally:
            watchdog.cancel()
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdin.close()
            child.stdout.close()
        # The server cancelled both statements: nothing waits, and nothing was written.
        assert not _waiting_on_a_lock(watcher, time.monotonic())
    locker.rollback()
    reader = osk.open_storage(url).inner
    assert reader.get_trial(trial_id).state == TrialState.RUNNING
    reader.close()


def test_threads_finalizers_and_fork_in_the_middle_of_calls(empty_tables: str) -> None:
    # Eight threads call one storage while others open storages, drop them with buffered
    # writes (their finalizers run inside whichever call the collector interrupts), and fork
    # children that use the storage they inherit. Every call returns, every write arrives.
    url = kit_url(empty_tables, pool_size=2, flush_interval=3600)
    storage = osk.open_storage(url).inner
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "stress")
    failures: list[BaseException] = []
    dropped: list[int] = []

    def calls() -> None:
        try:
            for _ in range(40):
                trial_id = storage.create_new_trial(study_id)
                storage.set_trial_user_attr(trial_id, "by", threading.get_ident())
                storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
                assert storage.get_study_name_from_id(study_id) == "stress"
        except BaseException as err:
            failures.append(err)

    def drop_storages() -> None:
        try:
            for _ in range(3):
                other = osk.open_storage(url).inner
                trial_id = other.create_new_trial(study_id)
                other.set_trial_user_attr(trial_id, "sent", "by the finalizer")
                dropped.append(trial_id)
                del other
                gc.collect()
        except BaseException as err:
            failures.append(err)

    def fork_a_child() -> int:
        pid = os.fork()
        if pid == 0:  # the child: its own loop and pool, then a normal exit
            code = 1
            try:
                trial_id = storage.create_new_trial(study_id)
                storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
                code = 0
            finally:
                os._exit(code)
        return pid

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: calls interleave in every way
    try:
        threads = [threading.Thread(target=calls) for _ in range(8)]
        threads.append(threading.Thread(target=drop_storages))
        for thread in threads:
            thread.start()
        children = [fork_a_child() for _ in range(2)]
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads), "a call never returned"
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    deadline = time.monotonic() + 30  # the kit's lifecycle thread sends dropped buffers
    reader = osk.open_storage(url).inner
    while time.monotonic() < deadline:
        sent = [reader.get_trial(t).user_attrs.get("sent") for t in dropped]
        if all(sent):
            break
        time.sleep(0.05)
    assert sent == ["by the finalizer"] * 3
    trials = reader.get_all_trials(study_id, deepcopy=False)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 8 * 40 + 2
    assert sorted(t.number for t in trials) == list(range(8 * 40 + 2 + 3))
    storage.close()
    reader.close()
