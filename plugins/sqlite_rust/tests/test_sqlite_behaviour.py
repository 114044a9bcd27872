"""Counts, caching, threads, fork, options and URLs of the SQLite backend."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk


def _objective(trial: optuna.Trial) -> float:
    return sum(trial.suggest_float(name, 0, 1) for name in ("x", "y", "z"))


def _random_study(url: str) -> optuna.Study:
    return optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=0))


@pytest.mark.parametrize(
    ("write_behind", "commits_per_trial", "statements_per_trial"),
    [
        # The default: one commit to number the trial, one to store params + value + state
        # together. create: BEGIN, data_version, INSERT, COMMIT; finish: BEGIN, UPDATE (the
        # check that the trial is unfinished), value, one INSERT for the 3 params, COMMIT;
        # reads: one data_version per get_all_trials.
        (True, 2, 10),
        # Write-through: each of the 3 params is its own BEGIN, SELECT, INSERT, COMMIT.
        (False, 5, 21),
    ],
)
def test_statements_and_commits_per_trial_are_fixed(
    url: str, write_behind: bool, commits_per_trial: int, statements_per_trial: int
) -> None:
    study = optuna.create_study(
        # No timed flush during the count (an hour away).
        storage=osk.open_storage(url, write_behind=write_behind, flush_interval=3600),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(_objective, n_trials=5)  # warm: the first sync reads the study once
    before = study._storage.osk_counters()  # type: ignore[attr-defined]
    study.optimize(_objective, n_trials=100)
    after = study._storage.osk_counters()  # type: ignore[attr-defined]
    assert after["commits"] - before["commits"] == 100 * commits_per_trial
    assert after["statements"] - before["statements"] == 100 * statements_per_trial


def test_optunas_default_log_level_costs_two_statements_more_and_no_commit(url: str) -> None:
    # At Optuna's default level (INFO) each trial's log line asks for the best trial and the
    # study's system attributes (the metric names): one data_version check each, the
    # attributes kept until another connection commits (a read transaction each time before).
    study = optuna.create_study(
        storage=osk.open_storage(url, flush_interval=3600),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    optuna.logging.set_verbosity(optuna.logging.INFO)
    optuna.logging.disable_default_handler()
    try:
        study.optimize(_objective, n_trials=5)  # warm: the first read of the attributes
        before = study._storage.osk_counters()  # type: ignore[attr-defined]
        study.optimize(_objective, n_trials=100)
        after = study._storage.osk_counters()  # type: ignore[attr-defined]
    finally:
        optuna.logging.enable_default_handler()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert after["commits"] - before["commits"] == 100 * 2
    assert after["statements"] - before["statements"] == 100 * 12


def test_second_get_all_trials_costs_one_statement(url: str) -> None:
    writer = osk.open_storage(url)
    study_id = writer.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    study = optuna.load_study(study_name=writer.get_study_name_from_id(study_id), storage=writer)
    study.optimize(_objective, n_trials=300)
    reader = osk.open_storage(url)
    first = reader.osk_counters()["statements"]
    trials = reader.get_all_trials(study_id, deepcopy=False)
    load = reader.osk_counters()["statements"] - first
    assert len(trials) == 300
    # data_version, BEGIN, study name, trials, values, params, intermediates, 2 attrs, COMMIT:
    # independent of the number of trials.
    assert load == 10
    again = reader.get_all_trials(study_id, deepcopy=False)
    assert reader.osk_counters()["statements"] - first == load + 1
    assert all(a is b for a, b in zip(trials, again, strict=True)), (
        "finished trials are built once"
    )
    # One more trial elsewhere: the reader fetches only it; old objects are kept.
    study.optimize(_objective, n_trials=1)
    third = reader.get_all_trials(study_id, deepcopy=False)
    assert len(third) == 301
    assert all(a is b for a, b in zip(trials, third[:300], strict=True))
    assert third[300].params == study.trials[300].params


def test_threads_share_one_storage(url: str) -> None:
    study = _random_study(url)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            study.optimize(_objective, n_trials=40)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(160))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def _run_in_child(storage: osk.KitStorage, study_name: str) -> None:
    study = optuna.load_study(study_name=study_name, storage=storage)
    study.optimize(_objective, n_trials=5)


def test_storage_inherited_through_fork_reconnects(url: str) -> None:
    study = _random_study(url)
    study.optimize(_objective, n_trials=3)
    child = multiprocessing.get_context("fork").Process(
        target=_run_in_child, args=(study._storage, study.study_name)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert [t.number for t in study.trials] == list(range(8))
    study.optimize(_objective, n_trials=1)  # the parent's connection is intact
    assert len(study.trials) == 9


def _use_inherited_connection(native: Any, out: Any) -> None:
    from osk_sqlite import SqliteStorageError

    try:
        native.counters()
        out.put("the parent's connection was used")
    except SqliteStorageError as err:
        out.put(str(err))
    native.close()  # must leave the parent's connection alone


def test_the_core_refuses_a_connection_inherited_through_fork(url: str) -> None:
    storage = osk.open_storage(url)
    study = optuna.create_study(storage=storage)
    native = storage.inner._native  # type: ignore[attr-defined]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_use_inherited_connection, args=(native, out))
    child.start()
    message = out.get(timeout=120)
    child.join(120)
    assert child.exitcode == 0
    assert "cannot be used in process" in message and "open the storage again" in message
    study.optimize(_objective, n_trials=2)  # the parent's connection is intact
    assert len(study.trials) == 2


def test_pickled_storage_reopens_the_file(url: str) -> None:
    import pickle

    study = _random_study(url)
    study.optimize(_objective, n_trials=2)
    clone = pickle.loads(pickle.dumps(study._storage))
    assert [t.number for t in clone.get_all_trials(study._study_id)] == [0, 1]


def test_values_written_by_a_trial_reach_the_file_with_its_state(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    query = in_other_process.query
    study = optuna.create_study(storage=osk.open_storage(url, flush_interval=3600))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("a", {"deep": [1, 2.5, None]})
    trial.report(0.25, step=3)
    assert query(db_path, "SELECT COUNT(*) FROM trial_params") == [[0]]
    study.tell(trial, 1.0)
    assert in_other_process.queries(
        db_path,
        "SELECT param_name FROM trial_params",
        "SELECT key, value_json FROM trial_user_attributes",
        "SELECT step, intermediate_value FROM trial_intermediate_values",
    ) == [[["x"]], [["a", '{"deep": [1, 2.5, null]}']], [[3, 0.25]]]


def test_without_write_behind_each_write_is_committed_at_once(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    study = optuna.create_study(storage=osk.open_storage(url, write_behind=False))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    assert in_other_process.query(db_path, "SELECT COUNT(*) FROM trial_params") == [[1]]


def test_timed_flush_shows_a_running_trial_to_other_processes(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    storage = osk.open_storage(url, flush_interval=0.05)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("a", 1)
    seen: list[list[int]] = []
    for _ in range(200):  # visible within a few intervals; bounded so a bug fails, not hangs
        seen = in_other_process.query(db_path, "SELECT COUNT(*) FROM trial_user_attributes")
        if seen == [[1]]:
            break
        threading.Event().wait(0.05)
    assert seen == [[1]]
    assert in_other_process.query(db_path, "SELECT state FROM trials") == [["RUNNING"]]
    study.tell(trial, 1.0)  # the flushed writes are not written twice
    assert in_other_process.queries(
        db_path, "SELECT COUNT(*) FROM trial_params", "SELECT state FROM trials"
    ) == [[[1]], [["COMPLETE"]]]


def test_close_commits_a_running_trials_writes(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    storage = osk.open_storage(url, flush_interval=3600)
    trial = optuna.create_study(storage=storage).ask()
    trial.suggest_float("x", 0, 1)
    storage.inner.close()
    storage.inner.close()  # closing twice is harmless
    assert in_other_process.query(db_path, "SELECT COUNT(*) FROM trial_params") == [[1]]


def test_heartbeat_makes_a_running_trial_visible(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    study = optuna.create_study(storage=osk.open_storage(url, flush_interval=3600))
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study._storage.record_heartbeat(trial._trial_id)
    assert in_other_process.queries(
        db_path, "SELECT COUNT(*) FROM trial_params", "SELECT COUNT(*) FROM trial_heartbeats"
    ) == [[[1]], [[1]]]


def test_wal_and_synchronous_settings(tmp_path: Path, in_other_process: ModuleType) -> None:
    path = tmp_path / "full.db"
    storage = osk.open_storage(f"optuna+sqlite:///{path}?synchronous=full")
    assert storage.inner.synchronous == "full"
    assert storage.inner.versions[0] == 12
    assert in_other_process.query(path, "PRAGMA journal_mode") == [["wal"]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("optuna+sqlite://host/x.db", "names a host"),
        ("optuna+sqlite://", "names no file"),
        ("optuna+sqlite:///:memory:", "names no file"),
    ],
)
def test_bad_urls_say_how_to_fix_them(bad: str, message: str) -> None:
    with pytest.raises(osk.InvalidURLError, match=message):
        osk.open_storage(bad)


def test_bad_options_are_refused(url: str) -> None:
    with pytest.raises(osk.InvalidOptionError, match="synchronous"):
        osk.open_storage(url + "?synchronous=sometimes")
    with pytest.raises(osk.InvalidOptionError, match="timeout"):
        osk.open_storage(url, timeout=-1)


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    from osk_sqlite import SqliteStorageError

    with pytest.raises(SqliteStorageError, match=r"opening the database file|unable to open"):
        osk.open_storage(f"optuna+sqlite:///{tmp_path}")


def test_backend_is_registered_with_honest_capabilities() -> None:
    backend = osk.get_registry().backend_for("sqlite")
    assert backend.name == "sqlite-rust"
    assert set(backend.capabilities.claimed()) == {
        "thread_safe",
        "multi_process",
        "persistent",
        "durable",
        "heartbeat",
        "large_steps",
        "read_only",
        "counters",
    }
    assert backend.problems() == []


def test_write_through_and_visibility_follow_the_options(url: str) -> None:
    default = osk.open_storage(url)
    assert not default.capabilities.write_through
    assert default.visibility_delay_s == 1.0  # the timed flush
    assert osk.open_storage(url, flush_interval=0.25).visibility_delay_s == 0.25
    through = osk.open_storage(url, write_behind=False)
    assert through.capabilities.write_through and through.capabilities.durable
    assert through.visibility_delay_s == 0.0


def test_errors_name_the_file_and_the_cause_never_the_sql(
    url: str, db_path: Path, in_other_process: ModuleType
) -> None:
    from osk_sqlite import SqliteStorageError

    study = optuna.create_study(study_name="s", storage=url)
    in_other_process.query(
        db_path,
        "CREATE TRIGGER frozen BEFORE INSERT ON trials "
        "BEGIN SELECT RAISE(ABORT, 'trials are frozen here'); END",
    )
    with pytest.raises(SqliteStorageError) as raised:
        study.ask()
    message = str(raised.value)
    assert message.startswith(f"{db_path}: ")
    assert "creating a trial" in message and "trials are frozen here" in message
    assert "INSERT" not in message and "trial_id" not in message


def test_a_closed_storage_says_so_with_its_own_error(url: str) -> None:
    from osk_sqlite import StoreClosedError

    storage = osk.open_storage(url)
    storage.inner.close()  # type: ignore[attr-defined]
    with pytest.raises(StoreClosedError, match="closed"):
        storage.get_all_studies()


def test_describe_names_the_format(url: str) -> None:
    storage = osk.open_storage(url)
    backend = osk.get_registry().backend_for("sqlite")
    assert backend.describe is not None
    info = backend.describe(storage.inner)
    assert "Optuna RDB schema 12" in info["format"]


@pytest.mark.parametrize(("direction", "best"), [("minimize", 1), ("maximize", 0)])
def test_best_trial_of_one_objective_ranks_extra_values_by_the_first(
    url: str, direction: str, best: int
) -> None:
    # As RDBStorage: a trial stored with two values in a one-direction study is ranked by its
    # first (BaseStorage's default raised RuntimeError reading `trial.value`).
    storage = osk.open_storage(url)
    study_id = storage.create_new_study([optuna.study.StudyDirection[direction.upper()]], "b")
    for values in ([3.0, -9.0], [1.0, 5.0]):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values)
    assert storage.get_best_trial(study_id).number == best


def test_a_fresh_reader_sees_each_trials_writes_in_the_order_they_were_made(url: str) -> None:
    """Params and attributes in the order they were set, values by objective, reports by step,
    whatever order the rows lie in the file (two trials' writes interleaved)."""
    from optuna.distributions import FloatDistribution

    writer = osk.open_storage(url)
    study = optuna.create_study(storage=writer, directions=["minimize", "maximize"])
    first, second = study.ask(), study.ask()
    for name in ("zeta", "alpha", "mid"):
        for trial in (first, second):
            trial.suggest_float(name, 0, 1)
            trial.set_user_attr(f"u_{name}", name)
            trial.storage.set_trial_system_attr(trial._trial_id, f"s_{name}", [name])
    for step in (7, 2, 5):
        writer.set_trial_intermediate_value(second._trial_id, step, float(step))
    study.tell(first, [1.0, 2.0])
    study.tell(second, [3.0, 4.0])
    expected = [
        (list(t.params), list(t.user_attrs), list(t.system_attrs), t.values)
        for t in study.get_trials()
    ]
    writer.inner.close()

    reader = optuna.load_study(study_name=study.study_name, storage=osk.open_storage(url))
    got = reader.get_trials()
    assert (
        [(list(t.params), list(t.user_attrs), list(t.system_attrs), t.values) for t in got]
        == [
            (
                ["zeta", "alpha", "mid"],
                ["u_zeta", "u_alpha", "u_mid"],
                ["s_zeta", "s_alpha", "s_mid"],
                [1.0, 2.0],
            ),
            (
                ["zeta", "alpha", "mid"],
                ["u_zeta", "u_alpha", "u_mid"],
                ["s_zeta", "s_alpha", "s_mid"],
                [3.0, 4.0],
            ),
        ]
        == expected
    )
    assert list(got[1].intermediate_values.items()) == [(2, 2.0), (5, 5.0), (7, 7.0)]
    assert got[1].distributions["zeta"] == FloatDistribution(0, 1)
