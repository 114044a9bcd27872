"""Many processes on one journal file: no errors, every trial exactly once."""

from __future__ import annotations

import json
import os
import signal
import threading
import types

import optuna
import pytest
from optuna.study._study_direction import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk


@pytest.mark.parametrize(("lock", "workers"), [("flock", 8), ("symlink", 4)])
def test_processes_every_trial_once(
    journal_path: str, helpers: types.ModuleType, lock: str, workers: int
) -> None:
    url = helpers.url(journal_path, lock=lock)
    optuna.create_study(storage=osk.open_storage(url), study_name="p8")
    n = 30
    start = helpers.soon(5.0)
    procs = [helpers.worker("optimize", url, "p8", str(n), start_at=start) for _ in range(workers)]
    for proc in procs:
        proc.communicate(timeout=300)
    assert [proc.returncode for proc in procs] == [0] * workers
    storage = osk.open_storage(url)
    trials = storage.get_all_trials(0)
    assert [t.number for t in trials] == list(range(workers * n))
    assert len({t._trial_id for t in trials}) == workers * n
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(
        set(t.params) == {"x", "y"} and t.intermediate_values == {0: t.params["x"]} for t in trials
    )
    assert len({t.user_attrs["pid"] for t in trials}) == workers
    assert helpers.snapshot_of(helpers.optuna_journal(journal_path)) == helpers.snapshot_of(
        storage
    )


def test_forked_child_reopens_the_file(journal_path: str, helpers: types.ModuleType) -> None:
    """A flock is shared by an inherited file descriptor, so a forked child must reopen it."""
    storage = osk.open_storage(helpers.url(journal_path, synchronous="never"))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "fork")
    pid = os.fork()
    if pid == 0:  # child: write with the inherited storage object, then leave at once
        code = 0
        try:
            for _ in range(20):
                tid = storage.create_new_trial(sid)
                storage.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
        except BaseException:
            code = 1
        os._exit(code)
    for _ in range(20):
        tid = storage.create_new_trial(sid)
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [2.0])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    trials = storage.get_all_trials(sid)
    assert [t.number for t in trials] == list(range(40))
    assert sorted(t.value for t in trials) == [1.0] * 20 + [2.0] * 20


def test_forked_child_is_not_blocked_by_a_mutex_held_in_the_parent(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """Another thread of the parent is inside the journal (holding its mutex) when a thread
    forks: the child's copy of that mutex would stay locked forever; the child takes a new
    one and writes."""
    storage = osk.open_storage(helpers.url(journal_path))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "fork-held")
    journal = storage.inner._journal
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with journal.mutex:  # as a thread does while it appends
            held.set()
            release.wait(120)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(120)
        pid = os.fork()
        if pid == 0:  # child: blocked forever without the fix, so SIGALRM ends it
            signal.alarm(60)
            code = 1
            try:
                tid = storage.create_new_trial(sid)
                storage.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert [t.state for t in storage.get_all_trials(sid)] == [TrialState.COMPLETE]


def test_threads_share_one_storage(journal_path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=40, n_jobs=4)
    trials = storage.get_all_trials(study._study_id)
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_running_trial_is_visible_to_another_process_at_once(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """Write-through (``visibility_delay_s`` 0): while process A holds its trial RUNNING, this
    process sees its params, attribute and report; A then returns normally without close(),
    this process tells the trial, and a third storage sees it COMPLETE with A's params."""
    url = helpers.url(journal_path)
    backend = osk.get_registry().backend_for("journal")
    assert backend.visibility_delay_s == 0
    asker = helpers.worker("ask-and-wait", url, "vis", stdin=True)
    assert asker.stdout is not None
    asked = json.loads(asker.stdout.readline())
    storage = osk.open_storage(url)
    assert storage.visibility_delay_s == 0
    (trial,) = storage.get_all_trials(0)
    assert trial.state == TrialState.RUNNING
    assert trial.params == {"x": asked["x"]}
    assert trial.user_attrs == {"note": "hello"}
    assert trial.intermediate_values == {1: 0.3}
    asker.communicate(input="go\n", timeout=120)
    assert asker.returncode == 0
    study = optuna.load_study(storage=storage, study_name="vis")
    study.tell(asked["number"], 1.5)
    (told,) = helpers.optuna_journal(journal_path).get_all_trials(0)
    assert told.state == TrialState.COMPLETE and told.value == 1.5
    assert told.params == {"x": asked["x"]} and told.user_attrs == {"note": "hello"}


@pytest.mark.parametrize("how", ["return", "close", "gc", "sys-exit-thread", "fork"])
def test_every_write_survives_a_normal_exit(
    journal_path: str, helpers: types.ModuleType, how: str
) -> None:
    """A child writes (a trial left RUNNING with a param, attributes and a report; another
    told) and ends normally without close(), with close(), after its storage was collected,
    by sys.exit() while a non-daemon thread writes, or in a multiprocessing fork child."""
    child = helpers.worker("exit-variant", helpers.url(journal_path), how)
    child.communicate(timeout=300)
    assert child.returncode == 0
    storage = osk.open_storage(helpers.url(journal_path, mode="ro"))
    running, done = storage.get_all_trials(storage.get_study_id_from_name("v"))
    assert running.state == TrialState.RUNNING and set(running.params) == {"x"}
    assert running.user_attrs == {"u": 1} and running.system_attrs == {"s": 2}
    assert running.intermediate_values == {1: 0.5}
    assert done.state == TrialState.COMPLETE and done.value == 1.0 and set(done.params) == {"x"}
