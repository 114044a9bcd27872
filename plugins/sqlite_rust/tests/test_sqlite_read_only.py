"""Inspection writes nothing: ``mode=ro`` opens a file without changing a byte of it or of its
directory, also in a read-only directory as an unprivileged user, and never creates a store.

Root may write anything, so each check runs twice: as root (where SQLite *could* create its
``-wal``/``-shm`` files or write into them, so the hashes prove it does not) and in a forked
child that drops to ``nobody`` in a read-only directory (where reading must still work).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from optuna.study import StudyDirection

import optuna_storage_kit as osk
from osk_sqlite import SchemaMismatchError, SqliteStorageError

NOBODY = 65534
LIFECYCLE_WORKER = Path(__file__).with_name("_lifecycle_worker.py")

Summary = list[tuple[int, str, list[str]]]


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file of the directory with a hash of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
    }


def _summary(url: str) -> Summary:
    storage = osk.open_storage(url)
    study_id = storage.get_study_id_from_name("s")
    return [
        (t.number, t.state.name, sorted(t.params))
        for t in storage.get_all_trials(study_id, deepcopy=False)
    ]


def _read_and_try_to_write(path: str) -> Summary:
    """Read the study read-only; check that writes are refused, at both layers."""
    url = f"optuna+sqlite:///{path}?mode=ro"
    summary = _summary(url)
    storage = osk.open_storage(url)
    assert storage.read_only and storage.capabilities.read_only
    with pytest.raises(osk.ReadOnlyStorageError):
        storage.create_new_study([StudyDirection.MINIMIZE], "new")
    with pytest.raises(osk.ReadOnlyStorageError, match="read-only"):  # the backend itself
        storage.inner.create_new_study([StudyDirection.MINIMIZE], "new")
    storage.inner.close()  # type: ignore[attr-defined]
    return summary


def _in_child(as_nobody: bool, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a forked child (as ``nobody`` if asked); return its result."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        try:
            if as_nobody:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            results.put(("ok", fn(*args)))
        except BaseException:
            results.put(("error", traceback.format_exc()))

    process = context.Process(target=child)
    process.start()
    kind, value = results.get(timeout=300)
    process.join(120)
    assert kind == "ok", value
    assert process.exitcode == 0
    return value


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp that ``nobody`` can enter (pytest's tmp_path is root's only)."""
    directory = Path(tempfile.mkdtemp(prefix="osk-sqlite-ro-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory, ignore_errors=True)


def _lifecycle(url: str, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(LIFECYCLE_WORKER), f"{url}?flush_interval=3600", how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(worker: subprocess.Popen[str], stdin: str = "") -> None:
    _, err = worker.communicate(stdin, timeout=300)
    assert worker.returncode == 0, err


OURS = [(0, "COMPLETE", ["x"]), (1, "RUNNING", ["c", "n", "x"])]


@pytest.mark.parametrize("as_nobody", [False, True], ids=["root", "nobody"])
@pytest.mark.parametrize("made_by", ["optuna", "osk-exit", "osk-close", "osk-live"])
def test_reading_read_only_changes_no_byte(
    shared_dir: Path, made_by: str, as_nobody: bool, in_other_process: ModuleType
) -> None:
    path = shared_dir / "study.db"
    live = None
    if made_by == "optuna":  # RDBStorage's file: rollback journal (journal_mode=delete)
        in_other_process.run("optimize", f"sqlite:///{path}", "s", 3)
        expected = [(n, "COMPLETE", ["x", "y"]) for n in range(3)]
    elif made_by == "osk-live":  # a writer still running, its commits in the WAL
        live = _lifecycle(f"optuna+sqlite:///{path}", "wait")
        assert live.stdout is not None and live.stdout.readline()  # what it wrote
        assert live.stdout.readline().strip() == "waiting"
        expected = OURS
    else:
        _finish(_lifecycle(f"optuna+sqlite:///{path}", made_by.removeprefix("osk-")))
        expected = OURS
    try:
        for file in shared_dir.iterdir():
            file.chmod(0o444)
        shared_dir.chmod(0o555)
        before = _snapshot(shared_dir)
        summary = _in_child(as_nobody, _read_and_try_to_write, str(path))
        assert [tuple(t) for t in summary] == [(n, s, p) for n, s, p in expected]
        assert _snapshot(shared_dir) == before, "reading read-only changed the directory"
    finally:
        if live is not None:
            _finish(live, "\n")
    if made_by == "optuna":
        header = path.read_bytes()[:20]
        assert (header[18], header[19]) == (1, 1), "still journal_mode=delete, not WAL"


def test_a_missing_file_opened_read_only_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(osk.StoreNotFoundError, match=str(missing)):
        osk.open_storage(f"optuna+sqlite:///{missing}?mode=ro")
    assert list(tmp_path.iterdir()) == []


def test_a_file_without_optuna_tables_opened_read_only_is_left_alone(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(SchemaMismatchError, match="no Optuna storage"):
        osk.open_storage(f"optuna+sqlite:///{empty}?mode=ro")
    assert [p.name for p in tmp_path.iterdir()] == ["empty.db"]
    assert empty.stat().st_size == 0


def _open_for_writing(path: str) -> str:
    try:
        osk.open_storage(f"optuna+sqlite:///{path}")
    except SqliteStorageError as err:
        return str(err)
    raise AssertionError("opening a read-only file for writing succeeded")


def test_opening_a_read_only_file_for_writing_says_how_to_read_it(
    shared_dir: Path, in_other_process: ModuleType
) -> None:
    path = shared_dir / "study.db"
    in_other_process.run("optimize", f"sqlite:///{path}", "s", 1)
    path.chmod(0o444)
    shared_dir.chmod(0o555)
    before = _snapshot(shared_dir)
    message = _in_child(True, _open_for_writing, str(path))
    assert str(path) in message and "mode=ro" in message
    assert "INSERT" not in message and "PRAGMA" not in message
    assert _snapshot(shared_dir) == before


def test_read_only_storage_sees_later_commits_of_a_live_writer(
    tmp_path: Path,
) -> None:
    url = f"optuna+sqlite:///{tmp_path / 'live.db'}"
    writer = osk.open_storage(url)
    study = optuna.create_study(study_name="s", storage=writer)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    reader = osk.open_storage(f"{url}?mode=ro")
    study_id = reader.get_study_id_from_name("s")
    assert len(reader.get_all_trials(study_id)) == 2
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(reader.get_all_trials(study_id)) == 5
