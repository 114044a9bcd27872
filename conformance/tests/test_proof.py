"""Proof that the kit catches bugs: each broken backend fails in its category, and the
correct ones pass every category.

Each case runs ``python -m osk_conformance certify --quick`` in a subprocess on a factory from
``broken_backends`` (or a sibling module: ``write_behind_backends``, ``lifecycle_backends``,
``api_backends``) and reads the certificate it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def certify(
    factory: str, out: Path, *only: str, select: str | None = None
) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    args = [
        sys.executable,
        "-m",
        "osk_conformance",
        "certify",
        "--factory",
        factory if ":" in factory else f"broken_backends:{factory}",
        "--quick",
        "--no-progress",
        "--out",
        str(out),
    ]
    for category in only:
        args += ["--only", category]
    if select:
        args += ["-k", select]
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    certificate = json.loads((out / "certificate.json").read_text())
    return run.returncode, certificate, run.stdout + run.stderr


BROKEN = {
    "stringifies_numpy": ("serialization", "test_value_matches_reference and numpy"),
    "reuses_trial_numbers": ("concurrency", "test_threads_optimize_one_study"),
    "pops_waiting_twice": ("concurrency", "test_threads_pop_enqueued_once"),
    "loses_writes_on_kill": ("durability", "test_acknowledged_writes_survive_sigkill"),
    "write_behind_backends:write_behind_claims_write_through": (
        "durability",
        "test_acknowledged_writes_survive_sigkill",
    ),
    "mutable_finished_trials": ("api", "test_finished_trial_is_immutable"),
    "ignores_deepcopy": ("api", "test_get_all_trials_deepcopy_contract"),
    "ignores_state_filter": ("api", "test_get_all_trials_state_filter"),
    "misses_stale_heartbeats": ("api", "test_heartbeat_api"),
    "truncates_large_steps": ("api", "test_large_intermediate_value_steps"),
    "api_backends:case_insensitive_names": ("api", "test_names_differing_in_any_code_point"),
    "api_backends:aio_differs": ("api", "aio"),
    "api_backends:aio_side_door": ("serialization", "aio"),
    "wrong_best_trial": ("model", "test_matches_reference"),
    "write_behind_backends:drops_writes_at_exit": ("lifecycle", "survives_a_normal_exit"),
    "write_behind_backends:late_visibility": ("lifecycle", "within_the_declared_delay"),
    "lifecycle_backends:creates_store_when_read_only": ("lifecycle", "mode_ro_on_a_missing"),
    "lifecycle_backends:leaves_files_when_inspecting": ("lifecycle", "test_inspection_"),
    "lifecycle_backends:ignores_mode_option": ("lifecycle", "mode_ro_on_a_missing"),
    "lifecycle_backends:acknowledges_refused_writes": ("lifecycle", "test_full_disk"),
    "write_behind_backends:swallows_failed_flush": ("lifecycle", "test_full_disk"),
    "ten_times_slower": ("performance", "random_5000"),
    "too_many_statements": ("performance", "random_5000"),
}
"""Each broken backend, the category it must fail, and the tests that must fail there (the
ones holding the rule it breaks): ``osk certify -k`` runs only those (a pytest ``-k``
expression; every failing test's id must match it), so each proof costs one category's
start-up and its own test, not the whole category. That the rest of a category passes on
correct backends is :func:`test_correct_backend_passes`'s job."""


@pytest.mark.parametrize(
    ("factory", "category", "test"),
    [(f, c, t) for f, (c, t) in BROKEN.items()],
    ids=[f.rpartition(":")[2] for f in BROKEN],
)
def test_broken_backend_fails_in_its_category(
    tmp_path: Path, factory: str, category: str, test: str
) -> None:
    if test == "test_full_disk" and os.geteuid() != 0:
        pytest.skip("the full-disk test needs root (a tmpfs in a private mount namespace)")
    code, cert, output = certify(factory, tmp_path, category, select=test)
    assert code == 1, output[-3000:]
    assert cert["result"] == "fail"
    assert cert["selection"] == test
    assert f"-k '{test}'" in (tmp_path / "certificate.md").read_text()  # the replay command
    section = cert["categories"][category]
    assert section["status"] == "fail", output[-3000:]
    failed = [t for t in section["tests"] if t["outcome"] == "failed"]
    assert failed, section["tests"]  # only the selected tests ran: these failed
    assert all(t["reason"] for t in failed)
    assert (tmp_path / "certificate.md").read_text().count("FAIL") >= 1
    assert "<testsuite" in (tmp_path / "certificate.junit.xml").read_text()


CORRECT = {
    "memory_reference": (),  # every category
    # The categories the memory backend cannot reach (processes, durability, lifecycle), and
    # the API; its performance is Optuna's journal's and its model run would repeat memory's.
    "journal_reference": (
        "api",
        "concurrency",
        "durability",
        "lifecycle",
        "capabilities",
        "serialization",
    ),
    # Optuna's persistence contract, and no more, is what ``durable`` asks; a write-behind
    # backend that writes out at close, collection, exit and fork passes the lifecycle.
    "write_behind_backends:write_behind_reference": ("durability", "lifecycle"),
    # The async API, held to the same tests as the sync one.
    "api_backends:memory_async_reference": ("api", "model", "serialization", "capabilities"),
}


@pytest.mark.parametrize(
    ("factory", "only"), CORRECT.items(), ids=[f.rpartition(":")[2] for f in CORRECT]
)
def test_correct_backend_passes(tmp_path: Path, factory: str, only: tuple[str, ...]) -> None:
    code, cert, output = certify(factory, tmp_path, *only)
    failed = [
        t
        for s in cert["categories"].values()
        for t in s["tests"]
        if t["outcome"] != "passed" and t["outcome"] != "skipped"
    ]
    assert not failed, failed
    assert code == 0, output[-3000:]
    assert cert["result"] == "pass"
    statuses = {name: s["status"] for name, s in cert["categories"].items()}
    if only:
        assert all(statuses[c] == "pass" for c in only), statuses
    else:  # every category: the memory backend claims no durability, so none of it applies
        assert {c for c, s in statuses.items() if s != "pass"} <= {"durability"}, statuses
    skipped = [
        t for s in cert["categories"].values() for t in s["tests"] if t["outcome"] == "skipped"
    ]
    assert all("does not claim capability" in t["reason"] for t in skipped), skipped
    if "api" in only and "async_api" in [
        k for k, v in cert["backend"]["capabilities"].items() if v
    ]:
        tested = [t["nodeid"] for t in cert["categories"]["api"]["tests"]]
        assert any("[aio]" in n or "-aio]" in n for n in tested), "the async API was not run"


def test_a_selection_that_matches_nothing_fails(tmp_path: Path) -> None:
    """``-k`` with a misspelt name certifies nothing, so it must not pass."""
    code, cert, output = certify("memory_reference", tmp_path, "api", select="no_such_test")
    assert code == 1, output[-3000:]
    assert cert["result"] == "fail"
