"""Benchmarks of osk-postgres against the memory backend and Optuna's RDBStorage (psycopg2).

Everything runs in one process run on one server, so the ratios compare like with like::

    uv run python plugins/postgres/benchmarks/bench_postgres.py            # table for README
    uv run pytest -o python_files='bench_*.py' plugins/postgres/benchmarks  # pytest-benchmark

Environment: ``OSK_TEST_POSTGRES_URL`` (server), ``OSK_BENCH_TRIALS`` (default 2000),
``OSK_BENCH_PROCESSES`` (default 32), ``OSK_BENCH_PROCESS_TRIALS`` (trials per process, 60: with
10, the timed window was a fraction of a second and its spread wide).
Each run creates a fresh database and drops it afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna

from optuna_storage_kit.toolkit import workloads
from osk_postgres.testing import create_database, drop_database, kit_url, server_url

TRIALS = int(os.environ.get("OSK_BENCH_TRIALS", "2000"))
PROCESSES = int(os.environ.get("OSK_BENCH_PROCESSES", "32"))
PROCESS_TRIALS = int(os.environ.get("OSK_BENCH_PROCESS_TRIALS", "60"))


@contextmanager
def database() -> Iterator[str]:
    name = create_database("osk_pg_bench")
    try:
        yield name
    finally:
        drop_database(name)


def urls(db: str) -> dict[str, str]:
    rdb = server_url().set(drivername="postgresql+psycopg2", database=db)
    return {"kit": kit_url(db), "rdb": rdb.render_as_string(hide_password=False)}


def open_storage(kind: str, db: str, **options: Any) -> Any:
    import optuna_storage_kit as osk

    if kind == "memory":
        return osk.open_storage("optuna+memory://")
    if kind == "rdb":
        return optuna.storages.RDBStorage(urls(db)["rdb"])
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return osk.open_storage(urls(db)["kit"] + (f"?{query}" if query else ""))


class Runner:
    """One storage and one study, optimized in chunks so that storages can take turns."""

    def __init__(self, kind: str, db: str, **options: Any) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.kind = kind
        self.db = db
        self.storage = open_storage(kind, db, **options)
        self.study = optuna.create_study(
            storage=self.storage, sampler=optuna.samplers.RandomSampler(1)
        )
        self.before = self._counts()
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.trials = 0

    def _counts(self) -> dict[str, int]:
        """The kit's deterministic counters plus the calls run on the facade's event loop."""
        if self.kind != "kit":
            return {}
        inner = self.storage.inner
        return {**inner.osk_counters(), "calls": inner._engine.runner.calls}

    def run(self, n_trials: int) -> None:
        start, cpu = time.perf_counter(), time.process_time()
        self.study.optimize(workloads.objective, n_trials=n_trials)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu
        self.trials += n_trials

    def finish(self) -> dict[str, float]:
        """Seconds, the per-trial breakdown and one full read, then close.

        ``cpu_ms_per_trial`` is this process's CPU time (every thread: Optuna, the facade,
        asyncpg); ``wait_ms_per_trial`` the rest of the wall time, spent waiting on the server
        (statements, commits' WAL flushes), the network and the scheduler."""
        ms = 1000 * self.seconds / self.trials
        cpu = 1000 * self.cpu_seconds / self.trials
        result = {"seconds": self.seconds, "ms_per_trial": ms, "cpu_ms_per_trial": cpu}
        result["wait_ms_per_trial"] = ms - cpu
        after = self._counts()
        for key, value in after.items():
            result[f"{key}_per_trial"] = (value - self.before[key]) / self.trials
        if self.kind != "memory":
            # Another storage object reads the whole study (cold), then again (incremental).
            other = open_storage(self.kind, self.db)
            reader = optuna.load_study(study_name=self.study.study_name, storage=other)
            for label in ("get_all_trials_ms", "get_all_trials_again_ms"):
                start = time.perf_counter()
                reader.get_trials(deepcopy=False)
                result[label] = (time.perf_counter() - start) * 1000
            if self.kind == "kit":
                other.inner.close()
            else:
                other.engine.dispose()
        assert len(self.study.trials) == self.trials
        if self.kind == "kit":
            self.storage.inner.close()
        elif self.kind == "rdb":
            self.storage.engine.dispose()
        return result


def run_optimize(kind: str, db: str, n_trials: int, **options: Any) -> dict[str, float]:
    """One process, RandomSampler, 3 params: seconds, and counts per trial where available."""
    runner = Runner(kind, db, **options)
    runner.run(n_trials)
    return runner.finish()


def _worker(kind: str, db: str, name: str, n: int, out: Any) -> None:
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(kind, db, pool_size=1) if kind == "kit" else open_storage(kind, db)
        study = optuna.load_study(
            study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
        )
        out.put(("ready", None))
        study.optimize(workloads.objective, n_trials=n)
        out.put(("ok", None))
    except BaseException as err:  # report, never hang the parent
        out.put(("error", repr(err)))


def run_processes(kind: str, db: str, n_procs: int, n_trials: int) -> dict[str, float]:
    """``n_procs`` processes on one study: aggregate trials/s, errors, trials present once."""
    name = f"{kind}-{uuid.uuid4().hex[:6]}"
    storage = open_storage(kind, db)
    optuna.create_study(study_name=name, storage=storage)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, db, name, n_trials, out)) for _ in range(n_procs)
    ]
    for p in procs:
        p.start()
    # Time from when all workers are connected (process start-up is not the storage's cost).
    ready = [out.get(timeout=300) for _ in procs]
    start = time.perf_counter()
    done = [out.get(timeout=900) for _ in procs]
    seconds = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
    errors = [m for s, m in ready + done if s == "error"]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    numbers = sorted(t.number for t in trials)
    return {
        "seconds": seconds,
        "trials_per_s": n_procs * n_trials / seconds,
        "errors": len(errors),
        "each_trial_once": float(numbers == list(range(n_procs * n_trials))),
    }


def compare_single(
    db: str, n_trials: int = TRIALS, rounds: int = 5
) -> dict[str, dict[str, float]]:
    """The storages take turns, ``rounds`` chunks each, so that load from elsewhere on the
    machine falls on all of them alike."""
    runners = {
        "memory": Runner("memory", db),
        "osk-postgres": Runner("kit", db),  # default: write_behind=true
        "osk-postgres write_behind=false": Runner("kit", db, write_behind="false"),
        "osk-postgres synchronous=off": Runner("kit", db, synchronous="off"),
        "RDBStorage": Runner("rdb", db),
    }
    for _ in range(rounds):
        for runner in runners.values():
            runner.run(n_trials // rounds)
    rows = {name: runner.finish() for name, runner in runners.items()}
    memory, rdb = rows["memory"]["seconds"], rows["RDBStorage"]["seconds"]
    for row in rows.values():
        row["ratio_to_memory"] = row["seconds"] / memory
        row["speedup_vs_rdb"] = rdb / row["seconds"]
    return rows


def breakdown(rows: dict[str, dict[str, float]]) -> str:
    """Where the default's time per trial goes, from one run's rows (see ``Runner.finish``)."""
    kit, fast = rows["osk-postgres"], rows["osk-postgres synchronous=off"]
    memory = rows["memory"]["ms_per_trial"]
    fsync = (kit["ms_per_trial"] - fast["ms_per_trial"]) / kit["commits_per_trial"]
    trips = (fast["wait_ms_per_trial"]) / fast["round_trips_per_trial"]
    return (
        f"per trial (default): {kit['ms_per_trial']:.2f} ms = client CPU "
        f"{kit['cpu_ms_per_trial']:.2f} ms (Optuna alone, the memory backend: {memory:.2f} ms) "
        f"+ waiting {kit['wait_ms_per_trial']:.2f} ms; {kit['round_trips_per_trial']:.2f} round "
        f"trips, {kit['commits_per_trial']:.2f} commits, {kit['calls_per_trial']:.2f} "
        f"calls run on the event loop. A commit's WAL flush adds ~{fsync:.2f} ms (default "
        f"against synchronous=off); without it a round trip waits ~{trips:.2f} ms."
    )


def compare_processes(db: str) -> dict[str, dict[str, float]]:
    rows = {
        "osk-postgres": run_processes("kit", db, PROCESSES, PROCESS_TRIALS),
        "RDBStorage": run_processes("rdb", db, PROCESSES, PROCESS_TRIALS),
    }
    rdb = rows["RDBStorage"]["trials_per_s"]
    for row in rows.values():
        row["throughput_vs_rdb"] = row["trials_per_s"] / rdb
    return rows


def _table(rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    lines = ["| storage | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [f"{row[c]:.3g}" if c in row else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- pytest-benchmark entry points (collected only with -o python_files=bench_*.py) --
def _record(benchmark: Any, fn: Callable[[], dict[str, dict[str, float]]]) -> Any:
    rows = benchmark.pedantic(fn, rounds=1, iterations=1)
    benchmark.extra_info.update({f"{k}.{m}": v for k, r in rows.items() for m, v in r.items()})
    return rows


def test_optimize_single_process(benchmark: Any) -> None:
    with database() as db:
        rows = _record(benchmark, lambda: compare_single(db))
    assert rows["osk-postgres"]["speedup_vs_rdb"] > 1


def test_processes_one_study(benchmark: Any) -> None:
    with database() as db:
        rows = _record(benchmark, lambda: compare_processes(db))
    assert rows["osk-postgres"]["errors"] == 0 and rows["osk-postgres"]["each_trial_once"] == 1


if __name__ == "__main__":
    with database() as db:
        single = compare_single(db)
        print(f"\n### study.optimize, {TRIALS} trials, one process (RandomSampler, 3 params)\n")
        print(
            _table(
                single,
                [
                    "ms_per_trial",
                    "ratio_to_memory",
                    "speedup_vs_rdb",
                    "cpu_ms_per_trial",
                    "wait_ms_per_trial",
                    "round_trips_per_trial",
                    "commits_per_trial",
                    "calls_per_trial",
                    "get_all_trials_ms",
                    "get_all_trials_again_ms",
                ],
            )
        )
        print(f"\n{breakdown(single)}")
    with database() as db:
        multi = compare_processes(db)
        print(f"\n### {PROCESSES} processes x {PROCESS_TRIALS} trials on one study\n")
        print(_table(multi, ["trials_per_s", "throughput_vs_rdb", "errors", "each_trial_once"]))
