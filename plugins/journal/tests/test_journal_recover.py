"""``osk journal recover`` through the real command line, in a subprocess: salvage every intact
record, report what was skipped, keep the original, refuse an inconsistent result."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import types

import optuna
from optuna.distributions import FloatDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk

OSK = os.path.join(os.path.dirname(sys.executable), "osk")

# Prints what Optuna's own JournalStorage reads from a journal, as JSON.
OPTUNA_READS = """
import json, sys
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
storage = JournalStorage(JournalFileBackend(sys.argv[1]))
print(json.dumps([
    {"name": s.study_name, "trials": [
        [t.number, t.state.name, t.params, t.values, t.user_attrs]
        for t in storage.get_all_trials(s._study_id)]}
    for s in storage.get_all_studies()]))
"""


def _osk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OSK, *args], capture_output=True, text=True, timeout=300, check=False)


def _optuna_reads(path: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", OPTUNA_READS, path],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _lines(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def _write(path: str, lines: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(b"".join(lines))


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _backups(path: str) -> list[str]:
    directory = os.path.dirname(path)
    return sorted(
        os.path.join(directory, n)
        for n in os.listdir(directory)
        if n.startswith(os.path.basename(path) + ".corrupt-")
    )


def _study_of_70_records(path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(path))
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(storage=storage, study_name="s", sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=23)  # 1 + 23 * 3 records
    assert len(_lines(path)) == 70


def test_recover_keeps_the_intact_records_after_a_garbage_line(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """The issue's case: 70 intact records with a garbage line after the 36th. All 70 are
    kept (the old command kept 36 and dropped 34), and the report names the skipped bytes."""
    _study_of_70_records(journal_path, helpers)
    before = _optuna_reads(journal_path)
    lines = _lines(journal_path)
    garbage = b"\x00\x17garbage from a bad sector\n"
    original = [*lines[:36], garbage, *lines[36:]]
    _write(journal_path, original)
    start = sum(map(len, lines[:36]))

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 0, done.stderr
    assert "kept 70 of 71 complete lines" in done.stdout
    assert (
        f"skipped 1 bad line at bytes {start}-{start + len(garbage) - 1} "
        f"({len(garbage)} bytes, line 37): not a JSON record"
    ) in done.stdout
    with open(journal_path, "rb") as f:
        assert f.read() == b"".join(lines)  # exactly the intact records, in their order
    (backup,) = _backups(journal_path)
    assert f"the original is saved as {backup}" in done.stdout
    with open(backup, "rb") as f:
        assert f.read() == b"".join(original)
    assert _optuna_reads(journal_path) == before
    assert len(before[0]["trials"]) == 23  # type: ignore[arg-type]


def test_recover_skips_every_bad_range_and_reports_each(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """Several damaged places: each skipped range is reported with its bytes and lines, a
    record Optuna cannot replay (unknown op code, a field of the wrong type) counts as bad,
    and a partial last line goes too."""
    _study_of_70_records(journal_path, helpers)
    before = _optuna_reads(journal_path)
    lines = _lines(journal_path)
    bad_a = [b"{not json}\n", b'{"op_code":99,"worker_id":"w"}\n']
    bad_b = [b'{"op_code":5,"worker_id":"w","trial_id":"seven"}\n']
    torn = b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_st'
    damaged = [*lines[:10], *bad_a, *lines[10:50], *bad_b, *lines[50:], torn]
    _write(journal_path, damaged)
    a = sum(map(len, lines[:10]))
    b = a + sum(map(len, bad_a)) + sum(map(len, lines[10:50]))
    end = sum(map(len, damaged)) - len(torn)

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "kept 70 of 73 complete lines" in out
    size_a = sum(map(len, bad_a))
    assert f"skipped 2 bad lines at bytes {a}-{a + size_a - 1} ({size_a} bytes, lines 11-12)" in (
        out
    )
    assert f"skipped 1 bad line at bytes {b}-{b + len(bad_b[0]) - 1}" in out
    assert "line 53): op_code 5 with a bad 'trial_id' field" in out
    assert f"removed a partial last line at bytes {end}-{end + len(torn) - 1}" in out
    with open(journal_path, "rb") as f:
        assert f.read() == b"".join(lines)
    assert _optuna_reads(journal_path) == before


def test_recover_refuses_when_a_lost_record_shifts_the_trial_ids(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """A garbage line where a trial was created: later records would name other trials than
    they meant. Refused: a non-zero exit naming the record, the file untouched, no backup;
    ``--truncate`` then keeps the records before the bad line."""
    _study_of_70_records(journal_path, helpers)
    lines = _lines(journal_path)
    assert json.loads(lines[37])["op_code"] == 4  # trial 12 created
    lines[37] = b"garbage\n"
    _write(journal_path, lines)
    digest = _digest(journal_path)
    conflict_at = sum(map(len, lines[:38]))

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("Error: refusing to recover")
    assert f"at byte offset {conflict_at} (line 39)" in done.stderr
    assert "refers to trial id 12, which no kept record creates" in done.stderr
    assert "The file is unchanged" in done.stderr and "--truncate" in done.stderr
    assert _digest(journal_path) == digest
    assert _backups(journal_path) == []

    done = _osk("journal", "recover", "--truncate", journal_path)
    assert done.returncode == 0, done.stderr
    assert "kept 37 of 70 complete lines" in done.stdout
    assert f"skipped 33 bad lines at bytes {sum(map(len, lines[:37]))}-" in done.stdout
    with open(journal_path, "rb") as f:
        assert f.read() == b"".join(lines[:37])
    assert len(_optuna_reads(journal_path)[0]["trials"]) == 12  # type: ignore[arg-type]


def test_recover_refuses_to_change_a_finished_trial(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """Without the lost CREATE_TRIAL, a later record of the running trial would land on a
    trial that is already finished."""
    storage = osk.open_storage(helpers.url(journal_path))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    running = storage.create_new_trial(sid)
    storage.create_new_trial(
        sid, optuna.trial.create_trial(params={}, distributions={}, value=1.0)
    )
    storage.set_trial_param(running, "x", 0.5, FloatDistribution(0, 1))
    lines = _lines(journal_path)
    lines[1] = b"\n"  # the running trial's creation
    _write(journal_path, lines)
    digest = _digest(journal_path)

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 1
    assert "would change trial id 0 (number 0 of study id 0), which a kept record already " in (
        done.stderr
    )
    assert _digest(journal_path) == digest


def test_recover_refuses_a_record_of_a_study_no_kept_record_creates(
    journal_path: str, helpers: types.ModuleType
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    storage.create_new_study([StudyDirection.MINIMIZE], "a")
    second = storage.create_new_study([StudyDirection.MINIMIZE], "b")
    storage.create_new_trial(second)
    lines = _lines(journal_path)
    lines[1] = b"garbage\n"
    _write(journal_path, lines)

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 1
    assert "refers to study id 1, which no kept record creates" in done.stderr


def test_torn_last_line_is_the_easy_case(journal_path: str, helpers: types.ModuleType) -> None:
    """A writer killed mid-append: the partial line goes, every record stays."""
    _study_of_70_records(journal_path, helpers)
    intact = _lines(journal_path)
    torn = b'{"op_code":6,"worker_id":"w","trial_id":3,"sta'
    _write(journal_path, [*intact, torn])
    start = sum(map(len, intact))

    done = _osk("journal", "recover", journal_path)

    assert done.returncode == 0, done.stderr
    assert "kept 70 of 70 complete lines" in done.stdout
    assert f"removed a partial last line at bytes {start}-{start + len(torn) - 1}" in done.stdout
    assert _lines(journal_path) == intact
    assert len(_backups(journal_path)) == 1
    assert len(_optuna_reads(journal_path)[0]["trials"]) == 23  # type: ignore[arg-type]


def test_dry_run_and_intact_journal_change_nothing(
    journal_path: str, helpers: types.ModuleType
) -> None:
    _study_of_70_records(journal_path, helpers)
    done = _osk("journal", "recover", journal_path)
    assert done.returncode == 0
    assert "70 records, intact; nothing to do" in done.stdout
    with open(journal_path, "ab") as f:
        f.write(b"garbage\n")
    digest = _digest(journal_path)
    done = _osk("journal", "recover", "--dry-run", journal_path)
    assert done.returncode == 0, done.stderr
    assert "would keep 70 of 71 complete lines" in done.stdout
    assert _digest(journal_path) == digest
    assert _backups(journal_path) == []


def test_recovered_journal_takes_writes_and_its_snapshot_is_dropped(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """A snapshot made past the first removed byte no longer describes the journal; the
    recovered journal opens and takes new trials, read the same by Optuna."""
    _study_of_70_records(journal_path, helpers)
    osk.open_storage(helpers.url(journal_path)).snapshot()
    lines = _lines(journal_path)
    _write(journal_path, [*lines[:5], b"garbage\n", *lines[5:]])
    done = _osk("journal", "recover", journal_path)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(journal_path + ".snapshot")
    storage = osk.open_storage(helpers.url(journal_path))
    study = optuna.load_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    trials = _optuna_reads(journal_path)[0]["trials"]
    assert [t[0] for t in trials] == list(range(25))  # type: ignore[index,union-attr]
    assert all(t[1] == TrialState.COMPLETE.name for t in trials)  # type: ignore[index,union-attr]
