"""``mode=ro`` (and ``osk journal check``): inspection opens the journal O_RDONLY and creates or
changes nothing, as root in a writable directory and as an unprivileged user in a read-only
one."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import types

import optuna
import pytest
from click.testing import CliRunner
from optuna.study._study_direction import StudyDirection

import optuna_storage_kit as osk
from optuna_storage_kit.tools.cli import get_cli

TORN = b'{"op_code":4,"worker_id":"dead","study_id":0,"datetime_st'


def _tree(directory: str) -> dict[str, tuple[int, str]]:
    """Every entry of ``directory``: its mode and the SHA-256 of its bytes (or link)."""
    found = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        info = os.lstat(path)
        if os.path.islink(path):
            digest = "-> " + os.readlink(path)
        else:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        found[name] = (info.st_mode, digest)
    return found


def _journal_with_torn_tail(path: str, *, heartbeats: bool) -> None:
    storage = osk.open_storage(f"optuna+journal:///{path}", heartbeat_interval=60)
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    running = storage.create_new_trial(study._study_id)
    if heartbeats:
        storage.record_heartbeat(running)
    storage.close()
    with open(path, "ab") as f:
        f.write(TORN)  # a writer killed mid-append: a writer would remove it, ro must not


def _inspect(path: str, **options: object) -> None:
    """Open ``path`` with mode=ro and every option that would write in rw mode; read all."""
    url = f"optuna+journal:///{path}?mode=ro&lock=symlink&snapshot_every=1"
    storage = osk.open_storage(url, heartbeat_interval=1, **options)
    assert storage.read_only and storage.capabilities.read_only
    journal = storage.inner._journal
    assert fcntl.fcntl(journal.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    trials = storage.get_all_trials(0)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5 + ["RUNNING"]
    assert all("x" in t.params for t in trials[:5])
    assert storage.inner._get_stale_trial_ids(0) == []  # reads the heartbeat file, if any
    with pytest.raises(osk.ReadOnlyStorageError, match="mode=ro"):
        storage.create_new_trial(0)
    with pytest.raises(osk.StorageKitError, match="read-only"):
        storage.inner.create_new_trial(0)  # the backend refuses on its own too
    with pytest.raises(osk.StorageKitError, match="no snapshot"):
        storage.inner.snapshot()
    storage.close()
    checked = CliRunner().invoke(get_cli(), ["journal", "check", path])
    assert checked.exit_code == 0, checked.output
    assert f"a partial last line of {len(TORN)} bytes" in checked.output
    missing = os.path.join(os.path.dirname(path), "missing.log")
    with pytest.raises(osk.StoreNotFoundError, match=re.escape(f"'{missing}' does not exist")):
        osk.open_storage(f"optuna+journal:///{missing}?mode=ro")


def test_mode_ro_creates_and_changes_nothing_as_root(tmp_path: os.PathLike[str]) -> None:
    """Root could write anything: nothing is written because nothing is attempted (no lock
    file, no snapshot although snapshot_every=1, no heartbeat file, the torn line kept)."""
    directory = str(tmp_path)
    path = os.path.join(directory, "study.log")
    _journal_with_torn_tail(path, heartbeats=False)
    before = _tree(directory)
    _inspect(path)
    assert _tree(directory) == before


def test_mode_ro_in_a_read_only_directory_as_nobody(helpers: types.ModuleType) -> None:
    """The journal and its heartbeat file belong to root, in a directory nobody may read but
    not write: a forked child that dropped to ``nobody`` inspects it; no byte changes."""
    directory = tempfile.mkdtemp(prefix="osk-ro-")
    try:
        path = os.path.join(directory, "study.log")
        _journal_with_torn_tail(path, heartbeats=True)
        assert os.path.exists(path + ".heartbeat")
        os.chmod(directory, 0o555)
        before = _tree(directory)
        helpers.as_nobody(_inspect, path)
        assert _tree(directory) == before
    finally:
        os.chmod(directory, 0o755)
        shutil.rmtree(directory, ignore_errors=True)


def test_mode_ro_missing_journal_is_an_error_naming_it(
    tmp_path: os.PathLike[str], helpers: types.ModuleType
) -> None:
    directory = str(tmp_path)
    for missing in (
        os.path.join(directory, "nope.log"),
        os.path.join(directory, "no", "such", "dir", "nope.log"),
    ):
        expected = re.escape(f"'{missing}' does not exist")
        with pytest.raises(osk.StoreNotFoundError, match=expected) as info:
            osk.open_storage(helpers.url(missing, mode="ro"))
        assert isinstance(info.value, FileNotFoundError)
        assert "mode=ro" in str(info.value)
    assert os.listdir(directory) == []


def test_mode_ro_sees_writes_made_after_it_opened(
    journal_path: str, helpers: types.ModuleType
) -> None:
    writer = osk.open_storage(helpers.url(journal_path))
    sid = writer.create_new_study([StudyDirection.MINIMIZE], "live")
    reader = osk.open_storage(helpers.url(journal_path, mode="ro"))
    assert reader.get_n_trials(sid) == 0
    writer.create_new_trial(sid)
    assert reader.get_n_trials(sid) == 1
