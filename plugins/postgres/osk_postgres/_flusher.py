"""The timed flush: buffered writes reach the server at most ``flush_interval`` after they were
made, even when the trial makes no other call for a long time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["TimedFlush"]

_logger = logging.getLogger("osk_postgres")


class TimedFlush:
    """A thread that calls ``flush()`` ``interval`` seconds after a buffered write.

    :meth:`note` is called after each buffered write (cheap once armed). The thread starts at
    the first one, sleeps ``interval`` seconds from the moment it was armed, disarms and calls
    ``flush()``, which sends everything buffered by then; a write that comes after the disarm
    arms it again. So no write waits longer than ``interval`` plus one flush. ``flush()``
    returns False when its storage is gone (it must hold it weakly), and the thread ends.
    """

    def __init__(self, interval: float, flush: Callable[[], bool], name: str) -> None:
        self._interval = interval
        self._flush = flush
        self._name = name
        self._armed = False
        self._closed = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self) -> None:
        """A write was buffered: make sure a flush comes within ``interval``."""
        if self._armed:
            return
        with self._lock:
            if self._closed or self._armed:
                return
            self._armed = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """End the thread (it finishes a flush in progress). Takes no lock: safe anywhere a
        flush may not run, but not inside a finalizer (``threading.Event`` locks briefly)."""
        self._closed = True
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.wait(self._interval):
                return
            self._armed = False
            try:
                if not self._flush():
                    return
            except Exception as err:  # kept buffered: the next flush or state write sends it
                _logger.warning("timed flush failed (%s); will retry", type(err).__name__)
                self.note()
