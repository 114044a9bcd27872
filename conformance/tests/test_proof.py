"""Proof that the kit catches bugs: each broken backend fails in its category, and the
correct ones pass every category.

Each case runs ``python -m osk_conformance certify --quick`` in a subprocess on a factory from
``broken_backends`` and reads the certificate it writes.
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


def certify(factory: str, out: Path, *only: str) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    args = [
        sys.executable,
        "-m",
        "osk_conformance",
        "certify",
        "--factory",
        f"broken_backends:{factory}",
        "--quick",
        "--no-progress",
        "--out",
        str(out),
    ]
    for category in only:
        args += ["--only", category]
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    certificate = json.loads((out / "certificate.json").read_text())
    return run.returncode, certificate, run.stdout + run.stderr


BROKEN = {
    "stringifies_numpy": "serialization",
    "reuses_trial_numbers": "concurrency",
    "pops_waiting_twice": "concurrency",
    "loses_writes_on_kill": "durability",
    "write_behind_claims_write_through": "durability",
    "mutable_finished_trials": "api",
    "ignores_deepcopy": "api",
    "ignores_state_filter": "api",
    "misses_stale_heartbeats": "api",
    "truncates_large_steps": "api",
    "wrong_best_trial": "model",
    "ten_times_slower": "performance",
    "too_many_statements": "performance",
}


@pytest.mark.parametrize(("factory", "category"), BROKEN.items(), ids=list(BROKEN))
def test_broken_backend_fails_in_its_category(tmp_path: Path, factory: str, category: str) -> None:
    code, cert, output = certify(factory, tmp_path, category)
    assert code == 1, output[-3000:]
    assert cert["result"] == "fail"
    section = cert["categories"][category]
    assert section["status"] == "fail", output[-3000:]
    assert all(t["reason"] for t in section["tests"] if t["outcome"] == "failed")
    assert (tmp_path / "certificate.md").read_text().count("FAIL") >= 1
    assert "<testsuite" in (tmp_path / "certificate.junit.xml").read_text()


CORRECT = {
    "memory_reference": (),  # every category
    # The categories the memory backend cannot reach (processes, durability), and the API;
    # its performance is Optuna's journal's and its model run would only repeat memory's.
    "journal_reference": ("api", "concurrency", "durability", "capabilities", "serialization"),
    # Optuna's persistence contract, and no more, is what ``durable`` asks.
    "write_behind_reference": ("durability",),
}


@pytest.mark.parametrize(("factory", "only"), CORRECT.items(), ids=list(CORRECT))
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
    assert all(statuses[c] == "pass" for c in only or statuses if c != "durability"), statuses
    if "durability" in only:
        assert statuses["durability"] == "pass", "the durable reference was not tested"
    skipped = [
        t for s in cert["categories"].values() for t in s["tests"] if t["outcome"] == "skipped"
    ]
    assert all("does not claim capability" in t["reason"] for t in skipped), skipped
