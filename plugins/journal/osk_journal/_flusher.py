"""Background fsync for the ``interval`` policy (like Redis' ``appendfsync everysec``).

Every append reaches the operating system before the call returns, so it survives a kill of the
process; this thread makes it survive a power loss too, within ``interval`` seconds, without
making each write wait for the disk.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref

__all__ = ["Flusher"]

_live: weakref.WeakSet[Flusher] = weakref.WeakSet()


class Flusher:
    """Calls ``fsync(fd)`` at most every ``interval`` seconds while there are new writes."""

    def __init__(self, fd: int, interval: float) -> None:
        self.fd = fd
        self.interval = interval
        self.fsyncs = 0
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _live.add(self)

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
        """fsync now if anything was written since the last fsync."""
        if self._dirty.is_set():
            self._dirty.clear()
            with contextlib.suppress(OSError):
                os.fsync(self.fd)
                self.fsyncs += 1

    def stop(self) -> None:
        self.flush()
        self._stop.set()
        self._dirty.set()  # wake the thread so it exits


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


@atexit.register
def _flush_all() -> None:
    for flusher in list(_live):
        flusher.flush()
