"""Proof that the kit does not fail correct backends: reference backends pass every category
they can reach (``osk certify --quick`` in a subprocess, the certificate read back).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Certify

CORRECT = {
    "memory_reference": (),  # every category
    # The categories the memory backend cannot reach (processes, durability, lifecycle); its
    # API, serialization and model runs would repeat memory's, and its performance is
    # Optuna's journal's. (`tox -e conformance` certifies every real backend in full.)
    "journal_reference": ("concurrency", "durability", "lifecycle"),
    # Optuna's persistence contract, and no more, is what ``durable`` asks; a write-behind
    # backend that writes out at close, collection, exit and fork passes the lifecycle.
    "write_behind_backends:write_behind_reference": ("durability", "lifecycle"),
    # The async API, held to the same tests as the sync one.
    "api_backends:memory_async_reference": ("api", "model", "serialization", "capabilities"),
}


@pytest.mark.parametrize(
    ("factory", "only"), CORRECT.items(), ids=[f.rpartition(":")[2] for f in CORRECT]
)
def test_correct_backend_passes(
    certify: Certify, tmp_path: Path, factory: str, only: tuple[str, ...]
) -> None:
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
