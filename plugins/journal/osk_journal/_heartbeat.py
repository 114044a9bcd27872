"""Heartbeats in ``PATH.heartbeat``, beside the journal, which Optuna never reads.

The file is an array of little-endian ``float64`` Unix times, one 8-byte slot per trial id
(``slot = 8 * trial_id``; never-written slots read as 0, "no heartbeat"). Recording one is a
single ``pwrite`` of 8 aligned bytes, atomic for readers, so no lock is needed, and the file
does not grow with the number of heartbeats. Keeping heartbeats out of the journal leaves what
Optuna users see unchanged (no extra system attributes) and keeps the journal from growing by
one record per trial per interval.
"""

from __future__ import annotations

import os
import struct
import time

__all__ = ["HeartbeatFile"]

_SLOT = struct.Struct("<d")


class HeartbeatFile:
    """The heartbeat side file of one journal. Process-safe; opened on first use.

    With ``read_only`` it is opened ``O_RDONLY`` and never created: a journal without one
    has no heartbeats.
    """

    def __init__(self, journal_path: str, *, read_only: bool = False) -> None:
        self.path = journal_path + ".heartbeat"
        self.read_only = read_only
        self._fd = -1
        self._pid = -1

    def _handle(self) -> int:
        if self._fd < 0 or self._pid != os.getpid():
            if self.read_only:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            else:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1

    def record(self, trial_id: int) -> None:
        """Record that ``trial_id`` is alive now."""
        os.pwrite(self._handle(), _SLOT.pack(time.time()), 8 * trial_id)

    def last(self, trial_id: int) -> float | None:
        """Return the time of the last heartbeat of ``trial_id``, or ``None``."""
        data = os.pread(self._handle(), 8, 8 * trial_id)
        if len(data) < 8:
            return None
        (moment,) = _SLOT.unpack(data)
        return moment if moment > 0 else None

    def stale(self, trial_ids: list[int], grace_period: float) -> list[int]:
        """Return those of ``trial_ids`` whose last heartbeat is older than ``grace_period``.

        Trials that never recorded a heartbeat are not stale, as in Optuna's RDBStorage.
        """
        if not trial_ids or not os.path.exists(self.path):
            return []
        now = time.time()
        stale = []
        for trial_id in trial_ids:
            moment = self.last(trial_id)
            if moment is not None and now - moment > grace_period:
                stale.append(trial_id)
        return stale
