"""A running trial's buffered writes survive every end of a storage's life in a process: a
normal exit without close(), garbage collection, fork (in the parent and in a forked child),
and reach other processes within ``flush_interval`` while the trial runs. Real processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk

from .conftest import kit_url

# No timed flush during these tests (unless a test sets one): only the ends of life can send.
NEVER = 3600

_PRELUDE = """
import gc, json, os, sys, time
import optuna, optuna_storage_kit as osk
url = sys.argv[1]
"""

ASK = """
study = optuna.create_study(study_name="ask-tell", storage=osk.open_storage(url))
trial = study.ask()
trial.report(0.3, 1)  # intermediate values write through: what follows is buffered
trial.suggest_float("x", 0, 1)
trial.suggest_int("n", 1, 9)
trial.set_user_attr("note", "hello")
study._storage.set_trial_system_attr(trial._trial_id, "sys", [1, 2])
"""


def _python(code: str, *args: str, timeout: float = 120) -> str:
    """Run ``code`` in a new interpreter (a normal exit); return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``code`` in a new interpreter that keeps running; it prints a line when ready."""
    return subprocess.Popen(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)  # no exit handler runs: only what was sent before counts
    proc.wait(timeout=30)
    assert proc.stdout is not None
    proc.stdout.close()


def _trial(url: str, study_name: str) -> optuna.trial.FrozenTrial:
    """The study's only trial, read by a fresh storage object in this process."""
    storage = osk.open_storage(url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
        (trial,) = study.get_trials()
        return trial
    finally:
        storage.inner.close()


def _wait_for(url: str, study_name: str, seconds: float) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + seconds
    while True:
        trial = _trial(url, study_name)
        if trial.params or time.monotonic() > deadline:
            return trial
        time.sleep(0.1)


def _assert_asked(trial: optuna.trial.FrozenTrial) -> None:
    assert set(trial.params) == {"x", "n"}
    assert trial.user_attrs == {"note": "hello"}
    assert trial.system_attrs == {"sys": [1, 2]}
    assert trial.intermediate_values == {1: 0.3}


def test_ask_in_one_process_tell_in_another(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=NEVER)
    _python(ASK, url)  # returns normally, never calls close()
    seen = json.loads(
        _python(
            """
            trial = optuna.load_study(study_name="ask-tell", storage=url).trials[0]
            print(json.dumps([trial.state.name, trial.params, trial.user_attrs,
                              trial.system_attrs, {str(k): v for k, v in
                                                   trial.intermediate_values.items()}]))
            """,
            url,
        )
    )
    assert seen == ["RUNNING", seen[1], {"note": "hello"}, {"sys": [1, 2]}, {"1": 0.3}]
    assert set(seen[1]) == {"x", "n"}
    _python(
        """
        study = optuna.load_study(study_name="ask-tell", storage=url)
        study.tell(study.trials[0].number, 1.5)
        """,
        url,
    )
    final = json.loads(
        _python(
            """
            trial = optuna.load_study(study_name="ask-tell", storage=url).trials[0]
            print(json.dumps([trial.state.name, trial.params, trial.value]))
            """,
            url,
        )
    )
    assert final == ["COMPLETE", seen[1], 1.5]


def test_garbage_collection_sends_the_buffer_while_the_process_goes_on(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=NEVER)
    proc = _start(
        ASK
        + """
del study, trial
gc.collect()
print("collected", flush=True)
time.sleep(600)
""",
        url,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "collected"
        trial = _wait_for(url, "ask-tell", 60)
    finally:
        _kill(proc)
    assert trial.state == TrialState.RUNNING
    _assert_asked(trial)


def test_fork_sends_the_parents_buffer_first(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=NEVER)
    proc = _start(
        ASK
        + """
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("forked", flush=True)
time.sleep(600)
""",
        url,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "forked"
    finally:
        _kill(proc)  # killed: neither exit nor collection can have sent anything
    trial = _trial(url, "ask-tell")
    _assert_asked(trial)


def _ask_in_forked_child(storage: Any, study_name: str) -> None:
    study = optuna.load_study(study_name=study_name, storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("pid", os.getpid())


def test_forked_child_writes_on_its_own_connections_and_exits(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=NEVER)
    storage = osk.open_storage(url)
    study = optuna.create_study(study_name="forked", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    child = multiprocessing.get_context("fork").Process(
        target=_ask_in_forked_child, args=(storage, "forked")
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    # The child's running trial has its params and attribute (sent as it exited) ...
    fresh = osk.open_storage(url)
    running = fresh.get_all_trials(study._study_id, states=(TrialState.RUNNING,))
    assert [(set(t.params), t.user_attrs) for t in running] == [({"x"}, {"pid": child.pid})]
    fresh.inner.close()
    # ... and the parent's connections were left alone: it goes on using them.
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    storage.inner.close()


def test_running_trials_writes_are_visible_within_the_flush_interval(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=0.5)
    proc = _start(ASK + '\nprint("asked", flush=True)\ntime.sleep(600)\n', url)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "asked"
        seen_at = time.monotonic()
        trial = _wait_for(url, "ask-tell", 5.0)  # 10 x the interval
        waited = time.monotonic() - seen_at
    finally:
        _kill(proc)
    _assert_asked(trial)
    assert waited < 5.0


def test_close_sends_the_buffer(empty_tables: str) -> None:
    url = kit_url(empty_tables, flush_interval=NEVER)
    storage = osk.open_storage(url)
    study = optuna.create_study(study_name="closed", storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    storage.inner.close()
    assert set(_trial(url, "closed").params) == {"x"}


@pytest.mark.parametrize("write_behind", [True, False], ids=["write-behind", "write-through"])
def test_flushes_per_trial_are_unchanged(empty_tables: str, write_behind: bool) -> None:
    # The timed flush adds no round trip to trials shorter than its interval.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = osk.open_storage(kit_url(empty_tables, write_behind=write_behind))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    before = storage.osk_counters()["round_trips"]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=10)
    after = storage.osk_counters()["round_trips"]
    optuna.logging.set_verbosity(optuna.logging.INFO)
    assert after - before == 10 * (3 if write_behind else 4)
    storage.inner.close()
