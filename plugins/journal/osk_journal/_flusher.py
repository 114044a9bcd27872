"""Background fsync for the ``interval`` policy (like Redis' ``appendfsync everysec``).

Every append reaches the operating system before the call returns, so it survives a kill of the
process; this thread makes it survive a power loss too, within ``interval`` seconds, without
making each write wait for the disk.

A failed fsync is never swallowed: the kernel reports a writeback error once, and the pages it
could not write may be dropped, so nothing written before it is known to be on disk. The error
is kept (:attr:`Flusher.error`) and raised by :meth:`Flusher.check` (before every later write
of the journal) and by :meth:`Flusher.stop` (``close()``); at interpreter exit (through the
toolkit's ``lifecycle``) it is logged at error level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref

from optuna_storage_kit.toolkit import lifecycle
from osk_journal._errors import JournalSyncError, sync_error

__all__ = ["Flusher"]

_logger = logging.getLogger("osk_journal")


class Flusher:
    """Calls ``fsync`` at most every ``interval`` seconds while there are new writes.

    It fsyncs its own duplicate of the journal's descriptor, so closing the journal never
    leaves the thread fsyncing a closed (or reused) descriptor number. Thread-safe.
    """

    def __init__(self, fd: int, interval: float, path: str) -> None:
        self.fd = os.dup(fd)
        self.interval = interval
        self.path = path
        self.fsyncs = 0
        self.error: JournalSyncError | None = None
        self._reported = False
        self._mutex = threading.Lock()  # one fsync at a time; none once closed
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        # Interpreter exit (and fork) make the pending fsync. The flusher, not its journal, is
        # tracked: a collected journal hands its flusher to a deferred stop(), which exit
        # must wait for, or a failure of its fsync would go unreported.
        lifecycle.track(self, flush=Flusher.flush_at_exit, after_fork_in_child=Flusher.abandon)

    def poke(self) -> None:
        """Note a write; the thread fsyncs it within ``interval`` seconds."""
        if not self._dirty.is_set():
            self._dirty.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_run,
                    args=(weakref.ref(self), self._dirty, self._stop),
                    name="osk-journal-fsync",
                    daemon=True,
                )
                self._thread.start()

    def flush(self) -> None:
        """fsync now if anything was written since the last fsync; keep a failure."""
        with self._mutex:
            if not self._dirty.is_set() or self.fd < 0:
                return
            self._dirty.clear()
            try:
                os.fsync(self.fd)
            except OSError as err:
                if self.error is None:
                    self.error = sync_error(self.path, err, self.interval)
                    self.error.__cause__ = err
            else:
                self.fsyncs += 1

    def check(self) -> None:
        """Raise the kept fsync failure, if any: the journal's durability is unknown."""
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """fsync what is pending, release the descriptor, end the thread; then :meth:`check`.

        Blocks for at most one fsync: never call it from a finalizer.
        """
        self.flush()
        with self._mutex:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
        self._stop.set()
        self._dirty.set()  # wake the thread so it exits
        lifecycle.untrack(self)
        self.check()

    def abandon(self) -> None:
        """Release the descriptor without an fsync: in a forked child, whose parent owns it."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1

    def flush_at_exit(self) -> None:
        """:meth:`flush` and :meth:`report_once`: at interpreter exit and before a fork."""
        if os.getpid() == self._pid:
            self.flush()
            self.report_once()

    def report_once(self) -> None:
        """Log a kept fsync failure at error level, the first time only (where nothing can
        raise to a caller: interpreter exit, a collected journal)."""
        with self._mutex:
            if self.error is None or self._reported:
                return
            self._reported = True
        _logger.error("%s", self.error)

    def stop_quietly(self) -> None:
        """:meth:`stop`, logging a failure instead of raising it (a collected journal)."""
        try:
            self.stop()
        except JournalSyncError:
            self.report_once()


def _run(ref: weakref.ref[Flusher], dirty: threading.Event, stop: threading.Event) -> None:
    while True:
        dirty.wait()
        flusher = ref()
        if flusher is None or stop.is_set():
            return
        interval = flusher.interval
        del flusher
        if stop.wait(interval):
            return
        flusher = ref()
        if flusher is None:
            return
        flusher.flush()
        del flusher
