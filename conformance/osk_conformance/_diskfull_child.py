"""Child process of the out-of-space test: fill a small private tmpfs through the backend.

``python -m osk_conformance._diskfull_child SPEC MOUNTPOINT SIZE`` (root only). The child moves
into a private mount namespace (``unshare(CLONE_NEWNS)``, what ``unshare -m`` does), mounts a
tmpfs of SIZE bytes on MOUNTPOINT (seen by nothing outside the namespace, gone when the child
exits), keeps some ballast there, and opens the store under ``MOUNTPOINT/store``. It completes
trials carrying 32 KiB attributes until a call raises, frees the ballast, reopens the store and
checks every acknowledged trial, then writes one more trial and reopens again.

Then a failed background write: with a trial created, the file system is filled up again, the
trial's params and attributes are written (a write-behind backend holds them), the child waits
past the backend's visibility delay (its timed flush fails on the full disk), frees the space
and finishes the trial. Either a call raises (the failure surfaced) or, once the state change
returned, every acknowledged write of the trial is stored: a failed flush is never swallowed.
(tmpfs cannot make ``fsync`` itself fail; a failed background write is what the kit injects.)
It prints one line per step (see :mod:`osk_conformance._lifecycle`).
"""

from __future__ import annotations

import ctypes
import errno
import gc
import itertools
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from osk_conformance._lifecycle import emit
from osk_conformance._target import open_spec

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PAYLOAD_BYTES = 16 * 1024  # 32 KiB once hex-encoded


def payload(i: int) -> str:
    """The attribute value of trial ``i``: random (incompressible) and reproducible."""
    return random.Random(i).randbytes(PAYLOAD_BYTES).hex()


def _private_tmpfs(mountpoint: str, size: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"{what}: {os.strerror(code)}")

    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    options = f"size={size},mode=0755".encode()
    check(libc.mount(b"tmpfs", mountpoint.encode(), b"tmpfs", 0, options), "mount -t tmpfs")


def _close(storage: BaseStorage) -> str | None:
    close = getattr(storage, "close", None)
    try:
        if callable(close):
            close()
    except Exception as err:  # a deferred write failing here is allowed: it surfaced
        return f"{type(err).__name__}: {err}"
    return None


def _fill(storage: BaseStorage, study_id: int, limit: int) -> dict[str, Any]:
    acked: list[int] = []
    written = 0
    for i in itertools.count():
        try:
            trial_id = storage.create_new_trial(study_id)
            storage.set_trial_user_attr(trial_id, "payload", payload(i))
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        except Exception as err:
            full = _says_full(err)
            error = f"{type(err).__name__}: {err}"
            return {"acked": acked, "written": written, "error": error, "says_full": full}
        acked.append(i)
        written += 2 * PAYLOAD_BYTES
        if written > limit:
            return {"acked": acked, "written": written, "error": None, "says_full": False}
    raise AssertionError("unreachable")


def _says_full(err: BaseException) -> bool:
    """Whether an error (or one it was raised from) says the disk or database is full."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(err).lower()
        if any(w in text for w in ("no space", "disk is full", "database is full", "disk full")):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


def _lost(storage: BaseStorage, study: str, acked: list[int]) -> list[str]:
    study_id = storage.get_study_id_from_name(study)
    trials = {t.number: t for t in storage.get_all_trials(study_id, deepcopy=False)}
    lost = []
    for i in acked:
        trial = trials.get(i)
        if trial is None:
            lost.append(f"trial {i} is missing")
        elif trial.state != TrialState.COMPLETE or trial.values != [float(i)]:
            lost.append(f"trial {i} is {trial.state.name} {trial.values}, acknowledged COMPLETE")
        elif trial.user_attrs.get("payload") != payload(i):
            lost.append(f"trial {i} lost or changed its acknowledged attribute")
    return lost


def _fill_up(path: Path) -> None:
    """Fill the file system with ``path``, down to its last free byte."""
    with open(path, "wb", buffering=0) as ballast:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    ballast.write(b"\0" * chunk)
            except OSError as err:
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise


def _background(spec: str, store: Path, study: str) -> dict[str, Any]:
    """A running trial's writes, a background flush on a full disk, then its state change."""
    storage = open_spec(spec, store)
    trial_id = storage.create_new_trial(storage.get_study_id_from_name(study))
    number = storage.get_trial_number_from_id(trial_id)
    ballast = store.parent / "ballast-2"
    _fill_up(ballast)
    writes: dict[str, Callable[[BaseStorage], None]] = {
        "param": lambda s: s.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1)),
        "attr": lambda s: s.set_trial_user_attr(trial_id, "held", payload(-1)),  # needs pages
        "report": lambda s: s.set_trial_intermediate_value(trial_id, 1, 0.25),
    }
    acked: list[str] = []
    surfaced: str | None = None
    completed = False
    for name, write in writes.items():
        try:
            write(storage)
        except Exception as err:
            surfaced = f"{name}: {type(err).__name__}: {err}"
            break
        acked.append(name)
    time.sleep(min(float(getattr(storage, "visibility_delay_s", 0.0)), 5.0) + 0.5)
    ballast.unlink()
    if surfaced is None:
        try:
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
            completed = True
        except Exception as err:
            surfaced = f"state change: {type(err).__name__}: {err}"
    closed = _close(storage)
    del storage
    gc.collect()
    if not completed:
        return {"surfaced": surfaced or closed, "lost": []}
    reopened = open_spec(spec, store)
    trial = reopened.get_trial(
        reopened.get_trial_id_from_study_id_trial_number(
            reopened.get_study_id_from_name(study), number
        )
    )
    stored = {
        "param": trial.params.get("x") == 0.5,
        "attr": trial.user_attrs.get("held") == payload(-1),
        "report": trial.intermediate_values.get(1) == 0.25,
    }
    return {"surfaced": closed, "lost": [name for name in acked if not stored[name]]}


def main(spec: str, mountpoint: str, size: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        _private_tmpfs(mountpoint, size)
    except OSError as err:
        emit("unavailable", {"reason": f"a private tmpfs could not be mounted: {err}"})
        return
    root = Path(mountpoint)
    store, ballast = root / "store", root / "ballast"
    ballast.write_bytes(b"\0" * (size // 4))
    study = f"osk-{uuid.uuid4().hex}"
    storage = open_spec(spec, store)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], study)
    if not any(p.is_file() for p in store.rglob("*")):
        emit("not-a-file-backend")
        return
    filled = _fill(storage, study_id, 3 * size)
    emit("filled", {k: v for k, v in filled.items() if k != "acked"} | {"n": len(filled["acked"])})
    emit("closed", {"error": _close(storage)})
    del storage
    gc.collect()
    ballast.unlink()
    try:
        reopened = open_spec(spec, store)
        lost = _lost(reopened, study, filled["acked"])
        emit("intact", {"lost": lost[:20], "count": len(lost)})
        trial_id = reopened.create_new_trial(study_id := reopened.get_study_id_from_name(study))
        reopened.set_trial_user_attr(trial_id, "after", "space freed")
        reopened.set_trial_state_values(trial_id, TrialState.COMPLETE, [-1.0])
        number = reopened.get_trial_number_from_id(trial_id)
        _close(reopened)
        del reopened
        gc.collect()
        again = open_spec(spec, store).get_all_trials(study_id, deepcopy=False)
        kept = [t for t in again if t.number == number and t.user_attrs.get("after")]
        emit("after", {"ok": bool(kept), "error": None})
    except Exception as err:
        emit("after", {"ok": False, "error": f"{type(err).__name__}: {err}"})
        return
    emit("background", _background(spec, store, study))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
