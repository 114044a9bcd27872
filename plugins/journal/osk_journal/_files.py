"""Opening and releasing a journal's file in one process."""

from __future__ import annotations

import functools
import os
import stat

from optuna_storage_kit.errors import StoreNotFoundError
from optuna_storage_kit.toolkit import lifecycle
from osk_journal._flusher import Flusher

__all__ = ["open_file", "release_later"]


def open_file(path: str, *, inspect: bool) -> tuple[int, bool]:
    """Open the journal at ``path``; return its descriptor and whether it is read-only.

    With ``inspect``, an existing journal is opened ``O_RDONLY`` and a missing one raises
    :class:`~optuna_storage_kit.StoreNotFoundError`. Otherwise it is created if missing and
    opened for appending, or read-only if this process may not write it.
    """
    if inspect:
        return _open_to_inspect(path), True
    try:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return os.open(path, flags, 0o644), False
    except PermissionError:
        if not os.path.exists(path):
            raise
        # A journal we may only read (a finished study, another user's file): reads work,
        # writes raise a clear error.
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), True


def _open_to_inspect(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StoreNotFoundError(
            f"journal {path!r} does not exist; opened read-only (mode=ro), nothing is "
            "created: check the path, or open it without mode=ro to create a new journal"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreNotFoundError(f"{path!r} is not a journal file (a directory or a device)")
    return fd


def release_later(fd: int, flusher: Flusher | None, pid: int) -> None:
    """The finalizer of a journal: hand the closing (which may fsync) to the toolkit."""
    if os.getpid() == pid:
        lifecycle.defer(functools.partial(_release, fd, flusher))


def _release(fd: int, flusher: Flusher | None) -> None:
    try:
        if flusher is not None:
            flusher.stop_quietly()
    finally:
        os.close(fd)
