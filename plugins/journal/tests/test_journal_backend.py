"""The backend as the core sees it: URL, options, capabilities, counters, describe."""

from __future__ import annotations

import copy
import os
import pickle
import shutil
import tempfile
import types

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import TrialState

import optuna_storage_kit as osk
from optuna_storage_kit.errors import InvalidOptionError, InvalidURLError


def test_registered_with_honest_capabilities() -> None:
    backend = osk.get_registry().backend_for("journal")
    assert backend.name == "journal"
    assert set(backend.capabilities.claimed()) == {
        "thread_safe",
        "multi_process",
        "persistent",
        "durable",
        "write_through",
        "heartbeat",
        "large_steps",
        "read_only",
        "counters",
    }
    assert backend.visibility_delay_s == 0  # write-through: others see a write at once
    names = {o.name for o in backend.all_options}
    assert {
        "lock",
        "synchronous",
        "fsync_interval",
        "snapshot_every",
        "heartbeat_interval",
    } <= names
    assert "mode" in names


def test_url_forms(tmp_path: os.PathLike[str]) -> None:
    absolute = os.path.join(str(tmp_path), "a.log")
    storage = osk.open_storage(f"optuna+journal:///{absolute}")
    assert storage.inner.path == absolute
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        relative = osk.open_storage("optuna+journal:///rel.log")
        assert relative.inner.path == os.path.join(str(tmp_path), "rel.log")
    finally:
        os.chdir(cwd)
    with pytest.raises(InvalidURLError, match="optuna\\+journal:///"):
        osk.open_storage("optuna+journal://host/a.log")
    with pytest.raises(FileNotFoundError, match="create it first"):
        osk.open_storage(f"optuna+journal:///{tmp_path}/missing/dir/a.log")


def test_bad_options_are_named(journal_path: str, helpers: types.ModuleType) -> None:
    with pytest.raises(InvalidOptionError, match="'lock' must be one of"):
        osk.open_storage(helpers.url(journal_path, lock="fcntl"))
    with pytest.raises(InvalidOptionError, match="'synchronous' must be one of"):
        osk.open_storage(helpers.url(journal_path), synchronous="sometimes")
    assert not os.path.exists(journal_path)  # nothing created for a refused open


@pytest.mark.parametrize(
    ("policy", "fsyncs_per_trial"), [("interval", 0), ("never", 0), ("commit", 1), ("always", 6)]
)
def test_counters_per_trial(
    journal_path: str, helpers: types.ModuleType, policy: str, fsyncs_per_trial: int
) -> None:
    storage = osk.open_storage(helpers.url(journal_path, synchronous=policy))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
    before = storage.osk_counters()
    n = 20
    study.optimize(
        lambda t: (
            t.suggest_float("a", 0, 1)
            + t.suggest_float("b", 0, 1)
            + t.suggest_int("c", 0, 3)
            + t.suggest_float("d", 0, 1)
        ),
        n_trials=n,
    )
    after = storage.osk_counters()
    # create, four params, finish: one append each, each one write(2) under one lock.
    for counter in ("commits", "appends", "writes", "locks"):
        assert after[counter] - before[counter] == 6 * n, counter
    assert after["fsyncs"] - before["fsyncs"] == fsyncs_per_trial * n


@pytest.mark.parametrize("policy", ["commit", "always"])
def test_one_call_one_write(journal_path: str, helpers: types.ModuleType, policy: str) -> None:
    """A trial added whole (template with params, attrs, values, intermediate values) is one
    record, written by one write(2) under one lock and fsynced once, as is a state change with
    its values: what one storage call produces is never split."""
    storage = osk.open_storage(helpers.url(journal_path, synchronous=policy))
    study = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    template = optuna.trial.create_trial(
        params={"x": 0.5, "c": "b"},
        distributions={
            "x": optuna.distributions.FloatDistribution(0, 1),
            "c": optuna.distributions.CategoricalDistribution(["a", "b"]),
        },
        values=[1.0, 2.0],
        user_attrs={"u": [1, 2]},
        system_attrs={"s": "t"},
        intermediate_values={1: 0.5, 2: 0.25},
    )
    counted = ("appends", "writes", "locks", "fsyncs")
    before = storage.osk_counters()
    study.add_trial(template)
    after = storage.osk_counters()
    assert {k: after[k] - before[k] for k in counted} == dict.fromkeys(counted, 1)
    trial_id = storage.create_new_trial(study._study_id)
    before = storage.osk_counters()
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [3.0, 4.0])
    after = storage.osk_counters()
    assert {k: after[k] - before[k] for k in counted} == dict.fromkeys(counted, 1)
    reference = helpers.optuna_journal(journal_path).get_all_trials(study._study_id)
    assert reference[0].params == {"x": 0.5, "c": "b"} and reference[0].values == [1.0, 2.0]
    assert reference[1].values == [3.0, 4.0]


def test_pickled_storage_reopens_the_file(journal_path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(journal_path, lock="open"), heartbeat_interval=5)
    sid = storage.create_new_study([StudyDirection.MAXIMIZE], "p")
    copy = pickle.loads(pickle.dumps(storage))
    tid = copy.create_new_trial(sid)
    copy.set_trial_state_values(tid, TrialState.COMPLETE, [3.0])
    assert storage.get_trial(tid).value == 3.0
    assert copy.get_heartbeat_interval() == 5
    assert copy.inner._journal.lock_kind == "open"


def test_describe_for_osk_info(journal_path: str, helpers: types.ModuleType) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    storage.create_new_study([StudyDirection.MINIMIZE])
    backend = osk.get_registry().backend_for("journal")
    assert backend.describe is not None
    facts = backend.describe(storage.inner)
    assert facts["records"].startswith("1 (")
    assert facts["lock"] == "flock" and facts["synchronous"] == "interval"


def test_deleted_study_takes_its_trials_but_not_their_ids(
    journal_path: str, helpers: types.ModuleType
) -> None:
    storage = osk.open_storage(helpers.url(journal_path))
    doomed = storage.create_new_study([StudyDirection.MINIMIZE], "doomed")
    gone = storage.create_new_trial(doomed)
    storage.delete_study(doomed)
    with pytest.raises(KeyError):
        storage.get_trial(gone)
    with pytest.raises(KeyError):
        storage.set_trial_user_attr(gone, "k", 1)
    kept = storage.create_new_study([StudyDirection.MINIMIZE], "doomed")
    # Ids follow the order of the records, as in Optuna's replay of the same file.
    assert storage.create_new_trial(kept) == gone + 1
    assert helpers.optuna_journal(journal_path).get_trial(gone + 1).number == 0


def _read_only_scenario(directory: str) -> None:
    path = os.path.join(directory, "ro.log")
    storage = osk.open_storage(f"optuna+journal:///{path}")
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "ro")
    os.chmod(path, 0o444)
    reader = osk.open_storage(f"optuna+journal:///{path}")
    assert reader.get_study_id_from_name("ro") == sid
    with pytest.raises(osk.StorageKitError, match="read-only"):
        reader.create_new_trial(sid)


def test_read_only_journal_reads_but_refuses_writes(helpers: types.ModuleType) -> None:
    # In a directory of its own under /tmp, owned by the user the scenario runs as.
    directory = tempfile.mkdtemp(prefix="osk-ro-")
    try:
        if os.geteuid() == 0:
            os.chown(directory, helpers.NOBODY, helpers.NOBODY)
        helpers.as_nobody(_read_only_scenario, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_former_fsync_name_still_sets_the_sync_level(
    journal_path: str, helpers: types.ModuleType
) -> None:
    with pytest.warns(FutureWarning, match="option 'fsync' is deprecated: use 'synchronous'"):
        storage = osk.open_storage(helpers.url(journal_path, fsync="commit"))
    try:
        assert storage.inner._journal.fsync_policy == "commit"
    finally:
        storage.inner.close()


def test_a_cached_trial_is_replaced_on_write_and_matches_a_fresh_read(
    journal_path: str, helpers: types.ModuleType
) -> None:
    """The record ``get_trial`` hands out is replaced, not rebuilt, by each write (copy on
    write): after every kind of write it equals what a fresh reader of the file builds, and a
    record handed out earlier does not change."""
    storage = osk.open_storage(helpers.url(journal_path))
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    dist = FloatDistribution(0.0, 1.0)
    writes = [
        lambda: storage.set_trial_param(trial_id, "x", 0.25, dist),
        lambda: storage.set_trial_param(trial_id, "y", 0.5, CategoricalDistribution([0.5, 1])),
        lambda: storage.set_trial_param(trial_id, "x", 0.75, dist),
        lambda: storage.set_trial_intermediate_value(trial_id, 3, 1.5),
        lambda: storage.set_trial_intermediate_value(trial_id, 1, float("nan")),
        lambda: storage.set_trial_user_attr(trial_id, "u", {"nested": [1, 2]}),
        lambda: storage.set_trial_system_attr(trial_id, "s", "text"),
        lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0]),
    ]
    for write in writes:
        before = storage.get_trial(trial_id)
        kept = copy.deepcopy(before)
        write()
        after = storage.get_trial(trial_id)
        fresh = osk.open_storage(helpers.url(journal_path)).get_trial(trial_id)
        assert _comparable(after) == _comparable(fresh)
        assert _comparable(before) == _comparable(kept)
    assert after.params == {"x": 0.75, "y": 0.5} and after.values == [2.0]
    assert after.state == TrialState.COMPLETE and after.datetime_complete is not None


def _comparable(trial: optuna.trial.FrozenTrial) -> str:
    return repr(sorted((k, repr(v)) for k, v in trial.__dict__.items()))
