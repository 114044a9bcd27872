"""Scale: a study of N finished trials (default 1,000,000) opened by a fresh process.

Run: ``uv run python plugins/sqlite_rust/benchmarks/bench_scale.py [--trials N] [--postgres]``

For each backend (``optuna+sqlite`` on a file; with ``--postgres`` also ``optuna+postgresql`` on
a fresh database of the test server), in separate fresh processes:

1. **populate**: Optuna's ``RDBStorage`` makes the schema and the study, then the trials (3
   float params, one value) are inserted in bulk into Optuna's tables (not timed: both backends
   store Optuna's RDB schema, so the data is what ``RDBStorage`` would have written);
2. **reference**: the same rows, already fetched into Python lists, turned into ``FrozenTrial``
   objects once: the least any storage must pay to hand them to Optuna; then again with the
   cyclic garbage collector paused, as the backends build them (the stricter reference);
3. **measure**: (after the imports) ``open_storage``, ``load_study``,
   ``study.get_trials(deepcopy=False)`` and ``study.best_trial``, timed, with the process's
   peak resident memory.

The issue's goal: the measure at most 3x the reference. Each figure is one run (a study this
large is its own repetition); absolute times vary with the machine, the ratio much less.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STUDY = "scale"
CHUNK = 50_000
PARAMS = ("x", "y", "z")
DISTRIBUTION = '{"name": "FloatDistribution", "attributes": {"log": false, "step": null, "low": -10.0, "high": 10.0}}'  # noqa: E501


def _rdb_url(url: str) -> str:
    """The SQLAlchemy URL of a kit URL (``optuna+sqlite:///x`` -> ``sqlite:///x``)."""
    rdb = url.removeprefix("optuna+")
    return rdb.replace("postgresql://", "postgresql+psycopg2://", 1)


def populate(url: str, n: int) -> None:
    import optuna
    import sqlalchemy as sa

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(_rdb_url(url))
    study_id = optuna.create_study(study_name=STUDY, storage=storage)._study_id
    storage.engine.dispose()
    engine = sa.create_engine(_rdb_url(url))
    tables = sa.MetaData()
    tables.reflect(engine, only=["trials", "trial_values", "trial_params"])
    trials, values, params = (tables.tables[t] for t in ("trials", "trial_values", "trial_params"))
    start = datetime.datetime(2026, 1, 1)
    with engine.begin() as conn:
        for first in range(0, n, CHUNK):
            ids = range(first + 1, min(first + CHUNK, n) + 1)
            conn.execute(
                trials.insert(),
                [
                    {
                        "trial_id": i,
                        "number": i - 1,
                        "study_id": study_id,
                        "state": "COMPLETE",
                        "datetime_start": start,
                        "datetime_complete": start,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                values.insert(),
                [
                    {
                        "trial_id": i,
                        "objective": 0,
                        "value": (i * 7919) % n,
                        "value_type": "FINITE",
                    }
                    for i in ids
                ],
            )
            conn.execute(
                params.insert(),
                [
                    {
                        "trial_id": i,
                        "param_name": name,
                        "param_value": ((i * (k + 3)) % 2000) / 100 - 10,
                        "distribution_json": DISTRIBUTION,
                    }
                    for i in ids
                    for k, name in enumerate(PARAMS)
                ],
            )
        if engine.dialect.name == "postgresql":  # the ids were given: move the sequence on
            conn.execute(sa.text(f"SELECT setval('trials_trial_id_seq', {n})"))
    engine.dispose()


def reference(url: str) -> dict[str, float]:
    import sqlalchemy as sa
    from optuna.trial import FrozenTrial, TrialState

    from optuna_storage_kit.toolkit.distributions import json_to_distribution
    from optuna_storage_kit.toolkit.trials import gc_paused

    engine = sa.create_engine(_rdb_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.trial_id, t.number, t.datetime_start, t.datetime_complete, v.value "
                "FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id ORDER BY t.trial_id"
            )
        ).all()
        param_rows = conn.execute(
            sa.text(
                "SELECT trial_id, param_name, param_value, distribution_json FROM trial_params "
                "ORDER BY trial_id"
            )
        ).all()
    engine.dispose()
    by_trial: dict[int, list[Any]] = {}
    for trial_id, name, value, text in param_rows:
        by_trial.setdefault(trial_id, []).append((name, value, text))

    def build() -> list[FrozenTrial]:
        built = []
        for trial_id, number, started, completed, value in rows:
            params = by_trial[trial_id]
            distributions = {name: json_to_distribution(text) for name, _, text in params}
            built.append(
                FrozenTrial(
                    number=number,
                    state=TrialState.COMPLETE,
                    value=None,
                    values=[value],
                    datetime_start=started,
                    datetime_complete=completed,
                    params={k: distributions[k].to_external_repr(v) for k, v, _ in params},
                    distributions=distributions,
                    user_attrs={},
                    system_attrs={},
                    intermediate_values={},
                    trial_id=trial_id,
                )
            )
        return built

    begin = time.perf_counter()
    n = len(build())
    plain = time.perf_counter() - begin
    gc.collect()
    begin = time.perf_counter()
    with gc_paused():  # the backends build their records so: the strictest reference
        build()
    paused = time.perf_counter() - begin
    return {"reference_s": plain, "reference_gc_paused_s": paused, "trials": n}


def measure(url: str) -> dict[str, float]:
    import optuna

    import optuna_storage_kit as osk

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    osk.get_registry().backends()  # imports are start-up, not opening: done before timing
    backend = "osk_postgres" if "postgres" in url else "osk_sqlite"
    importlib.import_module(f"{backend}._storage")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    storage = osk.open_storage(url)
    study = optuna.load_study(study_name=STUDY, storage=storage)
    t1 = time.perf_counter()
    trials = study.get_trials(deepcopy=False)
    t2 = time.perf_counter()
    best = study.best_trial
    t3 = time.perf_counter()
    assert best.value == min(t.value for t in trials if t.value is not None)
    return {
        "open_s": t1 - t0,
        "get_all_trials_s": t2 - t1,
        "best_trial_s": t3 - t2,
        "total_s": t3 - t0,
        "trials": len(trials),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": rss_before / 1024,
    }


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1]) if out.strip() else {}
    return result


def _run(label: str, url: str, n: int) -> dict[str, Any]:
    began = time.perf_counter()
    _child("populate", url, str(n))
    print(f"{label}: {n:,} trials written in {time.perf_counter() - began:.0f} s", flush=True)
    ref = _child("reference", url)
    got = _child("measure", url)
    assert ref["trials"] == got["trials"] == n, (ref, got)
    got |= ref | {
        "ratio": got["total_s"] / ref["reference_s"],
        "ratio_gc_paused": got["total_s"] / ref["reference_gc_paused_s"],
    }
    print(
        f"{label}: open {got['open_s']:.2f} s, get_all_trials {got['get_all_trials_s']:.2f} s, "
        f"best_trial {got['best_trial_s']:.3f} s; total {got['total_s']:.2f} s = "
        f"{got['ratio']:.2f}x building the FrozenTrials once ({got['reference_s']:.2f} s; "
        f"{got['ratio_gc_paused']:.2f}x building them with the collector paused, "
        f"{got['reference_gc_paused_s']:.2f} s); "
        f"peak memory {got['peak_rss_mib']:.0f} MiB ({got['rss_before_mib']:.0f} MiB before "
        f"opening)",
        flush=True,
    )
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true", help="also optuna+postgresql")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="osk-scale-") as tmp:
        results["sqlite"] = _run(
            "sqlite", f"optuna+sqlite:///{Path(tmp) / 'scale.db'}", args.trials
        )
    if args.postgres:
        from osk_postgres.testing import create_database, drop_database, kit_url

        database = create_database("osk_scale")
        try:
            results["postgres"] = _run("postgres", kit_url(database), args.trials)
        finally:
            drop_database(database)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("populate", "reference", "measure"):
        command, url, *rest = sys.argv[1:]
        if command == "populate":
            populate(url, int(rest[0]))
        else:
            print(json.dumps(reference(url) if command == "reference" else measure(url)))
    else:
        main()
