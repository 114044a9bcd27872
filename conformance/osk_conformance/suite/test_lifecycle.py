"""Category 7, lifecycle: a study run the way people run studies is safe.

Real processes write through the backend as users do (``ask``, ``suggest_*``, attributes,
``report``, ``tell``) and acknowledge every call that returned; then they end the ways
processes end. Optuna's persistence contract lets a running trial's writes wait (a crash may
lose them), but never a clean exit: after a normal return, ``close()``, garbage collection,
``sys.exit()`` with a worker thread still writing, or the exit of a ``fork`` child, every
acknowledged write is in the store, for every persistent backend. Also: a trial asked in one
process and told in another; a running trial's writes seen by another process within the
backend's declared ``visibility_delay_s``; read-only inspection that changes nothing and works
on read-only files (as an unprivileged user when the kit runs as root); and, for file
backends, a full disk (a small tmpfs in a private mount namespace).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from optuna.storages import BaseStorage

import optuna_storage_kit as osk
from osk_conformance._lifecycle import differences, expected, parse, store_record, study_record
from osk_conformance._target import Target
from osk_conformance._zygote import Child, Zygote

MARGIN_S = 10.0
"""Added to a backend's declared visibility delay before the kit gives up polling."""
TMPFS_BYTES = 4 * 1024 * 1024
NOBODY = 65534

EXITS = {
    "return": "returns without close()",
    "close": "calls close()",
    "gc": "drops the storage (garbage-collected) and goes on",
    "thread": "calls sys.exit() while a non-daemon thread still writes",
    "fork": "is a fork child (multiprocessing 'fork') writing through the inherited storage",
}


def _spawn(
    zygote: Zygote,
    target: Target,
    scenario: str,
    directory: Path,
    study: str,
    *args: str,
    user: int | None = None,
) -> Child:
    return zygote.spawn(
        "osk_conformance._lifecycle_child",
        scenario,
        target.spec,
        str(directory),
        study,
        *args,
        user=user,
    )


def _read(child: Child, stop: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The child's acknowledgements and other events, until EOF or an event named ``stop``."""
    acks: list[dict[str, Any]] = []
    events: dict[str, Any] = {}
    for line in child.stdout:
        kind, record = parse(line)
        if kind == "ack":
            acks.append(record)
        else:
            events[kind] = record
        if kind == stop:
            break
    return acks, events


def _finished(child: Child) -> None:
    code = child.wait()
    assert code == 0, f"the child process failed (exit code {code}): {child.failure}"


def _delay(storage: BaseStorage, target: Target) -> float:
    return float(getattr(storage, "visibility_delay_s", target.visibility_delay_s))


def _poll(storage: BaseStorage, study: str, want: dict[str, Any], seconds: float) -> list[str]:
    """Read until everything acknowledged is visible, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            problems = differences(study_record(storage, study), want)
        except KeyError:
            problems = [f"study {study!r} is not visible"]
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.05)


def _lost(problems: list[str], how: str) -> str:
    return f"{len(problems)} acknowledged writes lost when the writing process {how}: " + (
        "; ".join(problems[:8])
    )


# -- normal exits -------------------------------------------------------------------------------
@pytest.mark.osk_requires("persistent")
@pytest.mark.parametrize("how", list(EXITS))
def test_every_returned_write_survives_a_normal_exit(
    osk_target: Target,
    osk_zygote: Zygote,
    osk_open: Callable[..., BaseStorage],
    osk_dir: Path,
    how: str,
) -> None:
    study = f"osk-{uuid.uuid4().hex}"
    if how == "gc" and not osk_target.has("multi_process"):
        pytest.skip(
            f"{osk_target.name} does not claim capability multi_process: the kit reads the "
            "store while the writing process goes on"
        )
    with _spawn(osk_zygote, osk_target, f"exit-{how}", osk_dir, study) as child:
        if how == "gc":
            acks, events = _read(child, stop="collected")
            storage = osk_open()
            problems = _poll(
                storage, study, expected(acks), _delay(storage, osk_target) + MARGIN_S
            )
            child.send("exit")
            _read(child)
        else:
            acks, events = _read(child)
        _finished(child)
        if how == "fork":
            assert events.get("forked", {}).get("exitcode") == 0, child.failure
    if "no-close" in events:
        pytest.skip(f"{osk_target.name}'s storage has no close() method")
    if how != "gc":
        problems = differences(study_record(osk_open(), study), expected(acks))
    assert acks, "the writing process acknowledged nothing"
    assert not problems, _lost(problems, EXITS[how])


@pytest.mark.osk_requires("persistent")
def test_ask_here_tell_there(
    osk_target: Target, osk_zygote: Zygote, osk_open: Callable[..., BaseStorage], osk_dir: Path
) -> None:
    """A asks (params, attributes, reports) and exits; B sees it all RUNNING and tells; C
    sees it COMPLETE with A's params and B's value: what ``optuna ask``/``tell`` do."""
    study = f"osk-{uuid.uuid4().hex}"
    with _spawn(osk_zygote, osk_target, "exit-return", osk_dir, study) as asker:
        asked, _ = _read(asker)
        _finished(asker)
    want = expected(asked)
    running = [n for n, t in want["trials"].items() if t["state"] == "RUNNING"]
    assert len(running) == 1
    with _spawn(osk_zygote, osk_target, "tell", osk_dir, study, running[0], "7.5") as teller:
        told, events = _read(teller)
        _finished(teller)
    problems = differences(events["seen"], want)
    assert not problems, "the telling process did not see the asked trial: " + "; ".join(problems)
    problems = differences(study_record(osk_open(), study), expected([*asked, *told]))
    assert not problems, "after ask here and tell there: " + "; ".join(problems)


@pytest.mark.osk_requires("multi_process")
def test_running_trial_seen_by_another_process_within_the_declared_delay(
    osk_target: Target, osk_zygote: Zygote, osk_open: Callable[..., BaseStorage], osk_dir: Path
) -> None:
    study = f"osk-{uuid.uuid4().hex}"
    with _spawn(osk_zygote, osk_target, "hold", osk_dir, study) as child:
        acks, _ = _read(child, stop="written")
        started = time.monotonic()
        storage = osk_open()
        delay = _delay(storage, osk_target)
        problems = _poll(storage, study, expected(acks), delay + MARGIN_S)
        seen_after = time.monotonic() - started
        child.send("exit")
        _read(child)
        _finished(child)
    assert not problems, (
        f"a running trial's writes were still not visible to another process after "
        f"{seen_after:.1f} s (declared visibility_delay_s={delay:g}, plus a {MARGIN_S:g} s "
        f"margin): " + "; ".join(problems[:8])
    )


# -- inspection ---------------------------------------------------------------------------------
def _files(directory: Path) -> dict[str, str]:
    """Every entry under ``directory``: directories by name, files by content hash."""
    found = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_dir():
            found[name + "/"] = "dir"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_mode_ro_on_a_missing_store(osk_target: Target, osk_dir: Path) -> None:
    """``mode=ro`` on a store that does not exist is ``StoreNotFoundError`` and creates
    nothing; a backend not claiming ``read_only`` refuses the option loudly."""
    store = osk_dir / "missing"
    if not osk_target.has("read_only"):
        with pytest.raises(Exception) as refused:
            osk_target.open(store, mode="ro")
        assert isinstance(refused.value, (osk.InvalidOptionError, TypeError, ValueError)), (
            f"refused mode='ro' with {type(refused.value).__name__}: {refused.value}"
        )
    elif osk_target.shared:
        pytest.skip("the URL names one shared store: there is no missing store to open")
    else:
        with pytest.raises(osk.StoreNotFoundError):
            osk_target.open(store, mode="ro")
    assert _files(store) == {}, "opening a missing store read-only created files"


def _written_store(zygote: Zygote, target: Target, store: Path) -> tuple[str, dict[str, Any]]:
    study = f"osk-{uuid.uuid4().hex}"
    with _spawn(zygote, target, "exit-return", store, study) as child:
        acks, _ = _read(child)
        _finished(child)
    return study, expected(acks)


def _inspect(
    zygote: Zygote, target: Target, store: Path, study: str, user: int | None = None
) -> dict[str, Any]:
    with _spawn(zygote, target, "inspect", store, study, user=user) as child:
        _, events = _read(child)
        _finished(child)
    return events


def _seen(events: dict[str, Any], study: str) -> dict[str, Any]:
    empty: dict[str, Any] = {"user_attrs": {}, "system_attrs": {}, "trials": {}}
    return dict(events["view"].get(study, empty))


@pytest.mark.osk_requires("read_only")
def test_inspection_writes_nothing(
    osk_target: Target, osk_zygote: Zygote, osk_open: Callable[..., BaseStorage], osk_dir: Path
) -> None:
    """``mode=ro`` reads everything, refuses writes, and changes no byte and no file."""
    store = osk_dir / "store"
    study, want = _written_store(osk_zygote, osk_target, store)
    files = _files(store)
    names = [study] if osk_target.shared else None  # a server: what its API shows
    before = files or store_record(osk_open(store), names)
    events = _inspect(osk_zygote, osk_target, store, study)
    problems = differences(_seen(events, study), want)
    assert not problems, "read-only inspection did not see the store: " + "; ".join(problems)
    assert events["write"] == {"refused": True, "error": "ReadOnlyStorageError"}, (
        f"a write through a mode=ro storage was not refused with ReadOnlyStorageError: "
        f"{events['write']}"
    )
    after = _files(store) if files else store_record(osk_open(store), names)
    assert after == before, "read-only inspection changed the store"


@contextmanager
def _read_only_tree(root: Path) -> Iterator[None]:
    """Make ``root`` and everything under it read-only (readable by all); restore after."""
    parent = stat.S_IMODE(root.parent.stat().st_mode)
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    os.chmod(root.parent, parent | 0o711)  # others may pass through (the test's own directory)
    for path in modes:
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)
        os.chmod(root.parent, parent)


@pytest.mark.osk_requires("read_only")
def test_inspection_works_on_read_only_files(
    osk_target: Target, osk_zygote: Zygote, osk_dir: Path
) -> None:
    store = osk_dir / "store"
    study, want = _written_store(osk_zygote, osk_target, store)
    files = _files(store)
    if not files:
        pytest.skip(
            "the store keeps no files under the directory the kit gives it (a server): the "
            "read-only file test applies to file backends (a server's catalog is for its own "
            "tests)"
        )
    user = NOBODY if os.geteuid() == 0 else None
    with _read_only_tree(store):
        events = _inspect(osk_zygote, osk_target, store, study, user=user)
    who = "user nobody" if user is not None else "this user"
    problems = differences(_seen(events, study), want)
    assert not problems, f"read-only open by {who} of a read-only store: " + "; ".join(problems)
    assert _files(store) == files, "read-only inspection changed the store"


# -- a full disk --------------------------------------------------------------------------------
@pytest.mark.osk_requires("persistent")
def test_full_disk(osk_target: Target, osk_zygote: Zygote, osk_dir: Path) -> None:
    """On a full file system, the write that cannot be stored raises (saying so), never
    returns; acknowledged writes stay intact; once space is freed, the store opens and takes
    writes again; a background write that failed is surfaced or retried, never dropped."""
    if os.geteuid() != 0:
        pytest.skip(
            "not run: the full-disk test mounts a small tmpfs in a private mount namespace "
            "(unshare -m), which needs root"
        )
    mountpoint = osk_dir / "tmpfs"
    mountpoint.mkdir()
    with osk_zygote.spawn(
        "osk_conformance._diskfull_child", osk_target.spec, str(mountpoint), str(TMPFS_BYTES)
    ) as child:
        _, events = _read(child)
        _finished(child)
    if "unavailable" in events:
        pytest.skip(f"not run: {events['unavailable']['reason']}")
    if "not-a-file-backend" in events:
        pytest.skip(
            "the store keeps no files under the directory the kit gives it (a server): the "
            "full-disk test applies to file backends"
        )
    filled = events["filled"]
    assert filled["error"] is not None, (
        f"{filled['written']} bytes were written to a {TMPFS_BYTES}-byte file system and every "
        "write returned: writes were acknowledged that were not stored"
    )
    assert filled["says_full"], (
        f"the write that found the disk full raised {filled['error']}, which does not say the "
        "disk is full (an OSError with ENOSPC, or a message naming the full disk)"
    )
    intact = events.get("intact")
    assert intact is not None, f"the store did not open once space was freed: {events['after']}"
    assert not intact["lost"], (
        f"{intact['count']} acknowledged trials lost or damaged by the full disk: "
        + "; ".join(intact["lost"][:8])
    )
    assert events["after"]["ok"], f"the store took no write once space was freed: {events}"
    background = events["background"]
    assert not background["lost"], (
        f"a background write failed on the full disk and was swallowed: the trial's state "
        f"change returned, but its acknowledged {', '.join(background['lost'])} are not stored "
        f"(a failed flush must make the next write or close() raise, or be retried)"
    )
