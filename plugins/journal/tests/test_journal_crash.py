"""Crash safety: torn last lines, corrupt records, recovery, and writers killed at random."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
import types
import warnings
from collections.abc import Iterator

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk
from osk_journal import JournalCorruptError, JournalRecoveryError, TornLineWarning
from osk_journal._recover import recover


@contextlib.contextmanager
def warnings_allowed() -> Iterator[None]:
    """A kill may leave a torn line, whose repair warns: expected here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornLineWarning)
        yield


def _wait_for_lines(path: str, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                if sum(1 for _ in f) >= count:
                    return
        time.sleep(0.05)
    raise AssertionError(f"workers did not report {count} trials in time")


def _write_study(path: str, helpers: types.ModuleType, n_trials: int = 6) -> None:
    storage = osk.open_storage(helpers.url(path))
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n_trials)


def _lines(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def test_torn_last_line_is_ignored_then_repaired(
    journal_path: str, helpers: types.ModuleType
) -> None:
    _write_study(journal_path, helpers)
    intact = os.path.getsize(journal_path)
    with open(journal_path, "ab") as f:
        f.write(b'{"op_code":4,"worker_id":"dead-1","study_id":0,"datetime_st')
    # Readers, ours and Optuna's, ignore the partial line.
    ours = osk.open_storage(helpers.url(journal_path))
    assert len(ours.get_all_trials(0)) == 6
    assert len(helpers.optuna_journal(journal_path).get_all_trials(0)) == 6
    # The next append removes it, with a warning naming the offset, and lands after the rest.
    with pytest.warns(TornLineWarning, match=f"byte offset {intact}"):
        optuna.load_study(storage=ours, study_name="s").optimize(
            lambda t: t.suggest_float("x", 0, 1), n_trials=1
        )
    assert ours.osk_counters()["repairs"] == 1
    assert all(line.endswith(b"\n") for line in _lines(journal_path))
    reference = helpers.optuna_journal(journal_path)
    assert [t.number for t in reference.get_all_trials(0)] == list(range(7))
    assert helpers.snapshot_of(reference) == helpers.snapshot_of(ours)


def _damaged_study_with_heartbeats(
    path: str, helpers: types.ModuleType, bad_index: int, garbage: bytes
) -> list[bytes]:
    """A study of 6 trials, each with a heartbeat, whose line ``bad_index`` is replaced by
    ``garbage``; return the lines written."""
    _write_study(path, helpers)
    beating = osk.open_storage(helpers.url(path), heartbeat_interval=60)
    for trial_id in range(6):
        beating.record_heartbeat(trial_id)
    lines = _lines(path)
    lines[bad_index] = garbage
    with open(path, "wb") as f:
        f.write(b"".join(lines))
    return lines


@pytest.mark.parametrize("garbage", [b"{not json}\n", b"\n", b'{"no_op_code":1}\n', b"[1,2]\n"])
def test_corrupt_record_reports_offset_and_recovery(
    journal_path: str, helpers: types.ModuleType, garbage: bytes
) -> None:
    bad_index = 9
    lines = _damaged_study_with_heartbeats(journal_path, helpers, bad_index, garbage)
    offset = sum(len(line) for line in lines[:bad_index])
    with pytest.raises(JournalCorruptError) as info:
        osk.open_storage(helpers.url(journal_path))
    assert info.value.offset == offset
    assert info.value.line == bad_index + 1
    assert f"osk journal recover {journal_path}" in str(info.value)
    assert f"byte offset {offset}" in str(info.value)

    # The bad line was trial 2's COMPLETE record: every other record is kept, trial 2 stays
    # RUNNING, and the trial ids (and so their heartbeats) are unchanged.
    summary = recover(journal_path).summary()
    assert "kept 18 of 19 complete lines" in summary
    assert f"skipped 1 bad line at bytes {offset}-{offset + len(garbage) - 1}" in summary
    assert _lines(journal_path) == lines[:bad_index] + lines[bad_index + 1 :]
    backups = [n for n in os.listdir(os.path.dirname(journal_path)) if ".corrupt-" in n]
    assert len(backups) == 1
    with open(os.path.join(os.path.dirname(journal_path), backups[0]), "rb") as f:
        assert f.read() == b"".join(lines)  # nothing lost: the original is kept
    ours = osk.open_storage(helpers.url(journal_path))
    reference = helpers.optuna_journal(journal_path)
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(reference)
    states = [t.state for t in ours.get_all_trials(0)]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING] + [TrialState.COMPLETE] * 3
    assert os.path.getsize(journal_path + ".heartbeat") == 8 * 6


def test_truncating_recovery_forgets_heartbeats_of_dropped_trials(
    journal_path: str, helpers: types.ModuleType
) -> None:
    # Line 7 creates trial 2: keeping what follows it is refused.
    _damaged_study_with_heartbeats(journal_path, helpers, 7, b"garbage\n")
    with pytest.raises(JournalRecoveryError, match="refers to trial id 2"):
        recover(journal_path)
    summary = recover(journal_path, truncate=True).summary()
    assert "kept 7 of 19 complete lines" in summary
    ours = osk.open_storage(helpers.url(journal_path))
    assert len(ours.get_all_trials(0)) == 2
    # Trial ids past the kept part will be reused: their old heartbeats are forgotten.
    assert os.path.getsize(journal_path + ".heartbeat") == 8 * 2


def test_semantically_invalid_record_is_corruption(
    journal_path: str, helpers: types.ModuleType
) -> None:
    _write_study(journal_path, helpers, n_trials=2)
    with open(journal_path, "ab") as f:
        f.write(b'{"op_code":99,"worker_id":"w"}\n')
    with pytest.raises(JournalCorruptError, match="unknown op_code 99"):
        osk.open_storage(helpers.url(journal_path))


def test_storage_stops_writing_at_corruption(journal_path: str, helpers: types.ModuleType) -> None:
    ours = osk.open_storage(helpers.url(journal_path))
    sid = ours.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    with open(journal_path, "ab") as f:
        f.write(b"garbage written by something else\n")
    size = os.path.getsize(journal_path)
    with pytest.raises(JournalCorruptError):
        ours.create_new_trial(sid)
    assert os.path.getsize(journal_path) == size  # nothing appended after the bad record


def test_recover_on_intact_journal_changes_nothing(
    journal_path: str, helpers: types.ModuleType
) -> None:
    _write_study(journal_path, helpers, n_trials=2)
    before = _lines(journal_path)
    assert "nothing to do" in recover(journal_path).summary()
    assert _lines(journal_path) == before


def test_writers_killed_at_random_lose_nothing_acknowledged(
    journal_path: str, helpers: types.ModuleType, tmp_path: os.PathLike[str]
) -> None:
    """SIGKILL writers at random moments: every trial whose tell() returned is in the file,
    complete with its value; the file stays readable by both implementations."""
    url = helpers.url(journal_path)
    optuna.create_study(storage=osk.open_storage(url), study_name="kill")
    report = os.path.join(str(tmp_path), "told.txt")
    rng = random.Random(7)
    for round_ in range(4):
        procs = [helpers.worker("optimize", url, "kill", "100000", report) for _ in range(2)]
        _wait_for_lines(report, 20 * (round_ + 1))  # both are writing by now
        time.sleep(rng.random() * 0.5)
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
    with open(report) as f:
        told = dict(line.split() for line in f if line.endswith("\n"))
    assert len(told) > 10
    with warnings_allowed():
        ours = osk.open_storage(url)
        trials = {t.number: t for t in ours.get_all_trials(0)}
    for number, value in told.items():
        trial = trials[int(number)]
        assert trial.state == TrialState.COMPLETE
        assert repr(trial.value) == value
    # Only the trials running at the kills are left unfinished.
    assert sum(t.state == TrialState.RUNNING for t in trials.values()) <= 8
    assert helpers.snapshot_of(helpers.optuna_journal(journal_path)) == helpers.snapshot_of(ours)
    # The journal takes new trials after the kills.
    with warnings_allowed():
        study = optuna.load_study(storage=ours, study_name="kill")
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert all(line.endswith(b"\n") for line in _lines(journal_path))


@pytest.mark.parametrize("lock", ["symlink", "open"])
def test_lock_file_of_a_dead_writer_is_broken_after_grace_period(
    journal_path: str, helpers: types.ModuleType, lock: str
) -> None:
    storage = osk.open_storage(helpers.url(journal_path, lock=lock, lock_grace_period=1))
    # What Optuna's lock leaves behind when its holder is killed.
    if lock == "symlink":
        os.symlink(journal_path, journal_path + ".lock")
    else:
        open(journal_path + ".lock", "w").close()
    with pytest.warns(RuntimeWarning, match="breaking the lock"):
        sid = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "after")
    assert not os.path.lexists(journal_path + ".lock")
    assert helpers.optuna_journal(journal_path).get_study_name_from_id(sid) == "after"
