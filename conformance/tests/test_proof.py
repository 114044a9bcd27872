"""Proof that the kit catches bugs: each broken backend fails in its category.

Each case runs ``python -m osk_conformance certify --quick`` in a subprocess on a factory from
``broken_backends`` (or a sibling module: ``write_behind_backends``, ``lifecycle_backends``,
``api_backends``) and reads the certificate it writes. That correct backends pass is
``test_proof_correct.py``'s job.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Certify

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
    certify: Certify, tmp_path: Path, factory: str, category: str, test: str
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


def test_a_selection_that_matches_nothing_fails(certify: Certify, tmp_path: Path) -> None:
    """``-k`` with a misspelt name certifies nothing, so it must not pass."""
    code, cert, output = certify("memory_reference", tmp_path, "api", select="no_such_test")
    assert code == 1, output[-3000:]
    assert cert["result"] == "fail"
