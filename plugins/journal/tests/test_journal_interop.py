"""One journal file, two implementations: Optuna's JournalStorage and ours, both directions."""

from __future__ import annotations

import types
from collections.abc import Callable

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk
from osk_journal import JournalFileStorage


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    c = trial.suggest_categorical("c", ["a", "b", None, 1.5])
    n = trial.suggest_int("n", 0, 9, step=3)
    trial.set_user_attr("text", "é ünicode")
    trial.set_user_attr("nested", {"k": [1, 2.5, None]})
    for step in range(3):
        trial.report(x + step, step)
    if trial.number % 5 == 4:
        raise optuna.TrialPruned()
    if trial.number % 7 == 6:
        raise RuntimeError("this trial fails")
    return x * x + y + n + (0.5 if c is None else 0.0)


def _workload(storage: optuna.storages.BaseStorage) -> None:
    """Every kind of record: studies, attrs, deletes, templates, enqueued trials, all states."""
    study = optuna.create_study(storage=storage, study_name="main")
    study.set_user_attr("owner", "tests")
    storage.set_study_system_attr(study._study_id, "big", float("inf"))
    study.enqueue_trial({"x": 1.0, "y": 0.5, "c": "b", "n": 3})
    study.optimize(_objective, n_trials=15, catch=(RuntimeError,))
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 2.0},
            distributions={"x": FloatDistribution(-5, 5)},
            value=4.0,
            user_attrs={"added": True},
            intermediate_values={0: 1.0, 5: float("inf")},
        )
    )
    gone = optuna.create_study(storage=storage, study_name="gone")
    gone.optimize(_objective, n_trials=2, catch=(RuntimeError,))
    optuna.delete_study(study_name="gone", storage=storage)
    multi = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), 1.0), n_trials=3)
    waiting = optuna.create_study(storage=storage, study_name="waiting")
    waiting.enqueue_trial({"x": 0.0})


def test_optuna_writes_we_read(journal_path: str, helpers: types.ModuleType) -> None:
    reference = helpers.optuna_journal(journal_path)
    _workload(reference)
    ours = osk.open_storage(helpers.url(journal_path))
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(reference)
    assert len(ours.get_all_trials(0)) == 16


def test_we_write_optuna_reads(journal_path: str, helpers: types.ModuleType) -> None:
    ours = osk.open_storage(helpers.url(journal_path))
    _workload(ours)
    reference = helpers.optuna_journal(journal_path)
    assert helpers.snapshot_of(reference) == helpers.snapshot_of(ours)
    states = {t.state for t in reference.get_all_trials(0)}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}


def test_alternating_writers_keep_one_history(
    journal_path: str, helpers: types.ModuleType
) -> None:
    ours = osk.open_storage(helpers.url(journal_path, lock="symlink"))
    reference = helpers.optuna_journal(journal_path)
    study_ours = optuna.create_study(storage=ours, study_name="s")
    study_ref = optuna.load_study(storage=reference, study_name="s")
    for _ in range(5):
        study_ours.optimize(_objective, n_trials=2, catch=(RuntimeError,))
        study_ref.optimize(_objective, n_trials=2, catch=(RuntimeError,))
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(reference)
    assert [t.number for t in ours.get_all_trials(0)] == list(range(20))


def test_rules_for_records_that_do_not_apply_match(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """Records Optuna writes but skips on replay (duplicate names, updates of finished
    trials, incompatible distributions) are skipped by our replay too."""
    reference = helpers.optuna_journal(journal_path)
    sid = reference.create_new_study([StudyDirection.MINIMIZE], "dup")
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        reference.create_new_study([StudyDirection.MINIMIZE], "dup")
    tid = reference.create_new_trial(sid)
    reference.set_trial_param(tid, "p", 0, CategoricalDistribution(["a", "b"]))
    other = reference.create_new_trial(sid)
    with pytest.raises(ValueError):
        reference.set_trial_param(other, "p", 0, CategoricalDistribution(["a", "c"]))
    reference.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        reference.set_trial_user_attr(tid, "late", 1)
    ours = osk.open_storage(helpers.url(journal_path))
    assert ours.inner._journal.state.n_ops == 8  # the rejected records are in the file
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(reference)
    # And the other way round: our rejections write nothing, raise the same errors.
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        ours.create_new_study([StudyDirection.MINIMIZE], "dup")
    with pytest.raises(ValueError):
        ours.set_trial_param(other, "p", 0, CategoricalDistribution(["a", "c"]))
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        ours.set_trial_user_attr(tid, "late", 1)
    assert ours.inner._journal.state.n_ops == 8


@pytest.mark.parametrize(
    ("lock", "optuna_lock"), [("symlink", "symlink"), ("open", "open"), ("flock", "symlink")]
)
def test_concurrent_writers_of_both_kinds(
    journal_path: str, helpers: types.ModuleType, lock: str, optuna_lock: str
) -> None:
    """Optuna's JournalStorage and ours write one file at the same time, sharing Optuna's
    lock file, or (flock) not sharing any lock; every trial appears once and both replays
    agree."""
    optuna.create_study(storage=helpers.optuna_journal(journal_path), study_name="both")
    n = 40
    start = helpers.soon()
    ours_url = helpers.url(journal_path, lock=lock)
    procs = [
        helpers.worker("optimize", ours_url, "both", str(n), start_at=start),
        helpers.worker("optimize", ours_url, "both", str(n), start_at=start),
        helpers.worker(
            "optuna-optimize", journal_path, "both", str(n), optuna_lock, start_at=start
        ),
        helpers.worker(
            "optuna-optimize", journal_path, "both", str(n), optuna_lock, start_at=start
        ),
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    ours = osk.open_storage(helpers.url(journal_path, lock=lock))
    reference = helpers.optuna_journal(journal_path, lock=optuna_lock)
    trials = ours.get_all_trials(0)
    assert [t.number for t in trials] == list(range(4 * n))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t._trial_id for t in trials}) == 4 * n
    writers = {t.user_attrs["pid"] for t in trials}
    assert len(writers) == 4
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(reference)


def _overtake_next_append(
    monkeypatch: pytest.MonkeyPatch, storage: object, foreign: Callable[[], object]
) -> None:
    """Make ``foreign`` (a real write by Optuna's JournalStorage, which does not take our flock)
    land between our check of the next record and our write of it: the race it can win."""
    journal = storage._journal  # type: ignore[attr-defined]
    real_write = journal._write

    def overtaken(data: bytes) -> None:
        monkeypatch.setattr(journal, "_write", real_write)
        foreign()
        real_write(data)

    monkeypatch.setattr(journal, "_write", overtaken)


def test_append_overtaken_by_optuna_gets_the_right_trial_id(
    journal_path: str, helpers: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = JournalFileStorage(journal_path)
    reference = helpers.optuna_journal(journal_path)
    sid = ours.create_new_study([StudyDirection.MINIMIZE], "race")
    _overtake_next_append(monkeypatch, ours, lambda: reference.create_new_trial(sid))
    trial_id = ours.create_new_trial(sid)
    assert ours.osk_counters()["relocations"] == 1
    assert trial_id == 1  # Optuna's record came first and took id 0
    assert ours.get_trial(trial_id).number == 1
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(helpers.optuna_journal(journal_path))


def test_waiting_trial_claimed_first_by_optuna_is_not_ours(
    journal_path: str, helpers: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = JournalFileStorage(journal_path)
    reference = helpers.optuna_journal(journal_path)
    sid = ours.create_new_study([StudyDirection.MINIMIZE], "claim")
    waiting = ours.create_new_trial(sid, optuna.trial.create_trial(state=TrialState.WAITING))
    _overtake_next_append(
        monkeypatch,
        ours,
        lambda: reference.set_trial_state_values(waiting, TrialState.RUNNING),
    )
    assert ours.set_trial_state_values(waiting, TrialState.RUNNING) is False
    assert ours.osk_counters()["relocations"] == 1
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(helpers.optuna_journal(journal_path))


def test_update_overtaken_by_optuna_finishing_the_trial_raises(
    journal_path: str, helpers: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = JournalFileStorage(journal_path)
    reference = helpers.optuna_journal(journal_path)
    sid = ours.create_new_study([StudyDirection.MINIMIZE], "late")
    trial_id = ours.create_new_trial(sid)
    _overtake_next_append(
        monkeypatch,
        ours,
        lambda: reference.set_trial_state_values(trial_id, TrialState.FAIL),
    )
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        ours.set_trial_user_attr(trial_id, "late", 1)
    assert ours.get_trial(trial_id).user_attrs == {}
    ours.set_study_user_attr(sid, "still", "writable")  # the state is in step with the file
    assert helpers.snapshot_of(ours) == helpers.snapshot_of(helpers.optuna_journal(journal_path))
