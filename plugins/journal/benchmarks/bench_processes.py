"""processes_8: 8 processes optimize one study in one journal file. Ratio = single-process
in-memory time for the same number of trials / aggregate time. Every trial must be there once."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from typing import Any

import optuna
from optuna.trial import TrialState

import optuna_storage_kit as osk

_WORKER = """
import sys, optuna, optuna_storage_kit
from optuna_storage_kit.toolkit import workloads
sys.path.insert(0, {here!r})
optuna.logging.set_verbosity(optuna.logging.ERROR)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
target, n = sys.argv[1], int(sys.argv[2])
storage = target if target.startswith("optuna+") else JournalStorage(JournalFileBackend(target))
study = optuna.load_study(storage=storage, study_name="p8",
                          sampler=workloads.sampler("random"))
print("ready", flush=True)
sys.stdin.readline()  # start together
study.optimize(workloads.objective, n_trials=n)
"""


def _start_workers(target: str, per_worker: int, workers: int) -> list[subprocess.Popen[str]]:
    """Start the workers and wait until each has imported Optuna and loaded the study."""
    script = _WORKER.format(here=os.path.dirname(os.path.abspath(__file__)))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, target, str(per_worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    return procs


def _go(procs: list[subprocess.Popen[str]]) -> None:
    """Let the workers optimize, and wait for all of them: the timed part."""
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=900)
        assert proc.returncode == 0


def test_processes_8(benchmark: Any, common: types.ModuleType, tmp_path: os.PathLike[str]) -> None:
    workers, total = 8, common.trials(4000)
    per_worker = total // workers
    memory = common.timed(lambda: common.optimize("optuna+memory://", per_worker * workers))
    ref_path = os.path.join(str(tmp_path), "optuna.log")
    optuna.create_study(storage=common.optuna_journal(ref_path), study_name="p8")
    procs = _start_workers(ref_path, per_worker, workers)
    reference = common.timed(lambda: _go(procs))

    url = f"optuna+journal:///{os.path.join(str(tmp_path), 'ours.log')}"
    optuna.create_study(storage=osk.open_storage(url), study_name="p8")

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (_start_workers(url, per_worker, workers),), {}

    benchmark.pedantic(_go, setup=setup, rounds=1, iterations=1)
    ours = benchmark.stats.stats.mean
    trials = osk.open_storage(url).get_all_trials(0)
    assert [t.number for t in trials] == list(range(per_worker * workers))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    common.report(
        benchmark,
        f"processes_{workers}: {per_worker * workers} trials in all",
        {
            "memory_single_process_s": memory,
            "osk_journal_s": ours,
            "optuna_journal_s": reference,
            "ratio_memory_over_osk": memory / ours,
            "ratio_memory_over_optuna": memory / reference,
            "osk_trials_per_s": per_worker * workers / ours,
            "optuna_trials_per_s": per_worker * workers / reference,
        },
    )
