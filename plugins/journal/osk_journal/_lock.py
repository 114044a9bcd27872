"""Process locks for appending to a journal.

* ``flock``: ``fcntl.flock`` on the journal itself. Fast, and released by the kernel when a
  holder dies, so a killed writer never leaves a stale lock. For local file systems. Optuna's
  ``JournalStorage`` does not take it; :class:`~osk_journal._journal.Journal` copes with such
  writers appending at the same time (it reads each append back and replays in file order).
* ``symlink`` and ``open``: the lock files of Optuna's ``JournalFileSymlinkLock`` and
  ``JournalFileOpenLock`` (``PATH.lock``, made by ``symlink(2)`` or ``open(O_CREAT|O_EXCL)``), for
  file systems where ``flock`` is unreliable (NFS); Optuna's own writers share them (use the
  kind Optuna uses: ``symlink`` is its default). As in
  Optuna, a lock left by a dead writer is broken after ``grace_period`` seconds in which neither
  it nor the journal changed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
import uuid
from typing import Protocol

__all__ = ["LOCK_KINDS", "FileLock", "make_lock"]

LOCK_KINDS = ("flock", "symlink", "open")
_FIRST_SLEEP = 0.0001
_MAX_SLEEP = 0.005


class FileLock(Protocol):
    def acquire(self, fd: int) -> None: ...

    def release(self, fd: int) -> None: ...


class FlockLock:
    """``flock(LOCK_EX)`` on the journal's own file descriptor."""

    def acquire(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def release(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class LinkLock:
    """Optuna's lock-file protocol: ``PATH.lock`` exists while a writer holds the lock."""

    def __init__(self, path: str, kind: str, grace_period: float | None) -> None:
        self._target = path
        self._lock_file = path + ".lock"
        self._kind = kind
        self._grace = grace_period
        self.waits = 0

    def _try(self) -> bool:
        try:
            if self._kind == "symlink":
                os.symlink(self._target, self._lock_file)
            else:
                os.close(os.open(self._lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def _age_marker(self) -> float | None:
        # Optuna watches os.stat(lock): for a symlink that is the journal's mtime.
        try:
            return os.stat(self._lock_file).st_mtime
        except OSError:
            return None

    def acquire(self, fd: int) -> None:
        if self._try():
            return
        sleep = _FIRST_SLEEP
        marker = self._age_marker()
        since = time.monotonic()
        while not self._try():
            self.waits += 1
            time.sleep(sleep)
            sleep = min(sleep * 2, _MAX_SLEEP)
            if self._grace is None:
                continue
            current = self._age_marker()
            if current != marker:
                marker, since = current, time.monotonic()
            elif time.monotonic() - since > self._grace:
                self._break_stale()
                since = time.monotonic()

    def _break_stale(self) -> None:
        import warnings

        warnings.warn(
            f"breaking the lock {self._lock_file!r}: it has not changed for more than "
            f"{self._grace:g} s, so its holder is presumed dead",
            RuntimeWarning,
            stacklevel=4,
        )
        aside = f"{self._lock_file}{uuid.uuid4()}.rename"
        try:
            os.rename(self._lock_file, aside)
            os.unlink(aside)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    def release(self, fd: int) -> None:
        # The lock may be gone already: broken by another process after the grace period.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._lock_file)


def make_lock(kind: str, path: str, grace_period: float | None) -> FlockLock | LinkLock:
    """Return the lock of ``kind`` (one of :data:`LOCK_KINDS`) for the journal at ``path``."""
    if kind == "flock":
        return FlockLock()
    if kind in ("symlink", "open"):
        return LinkLock(path, kind, grace_period)
    raise ValueError(f"lock must be one of {', '.join(LOCK_KINDS)}, got {kind!r}")
