"""A private asyncio event loop that the synchronous callers run themselves."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, TypeVar

__all__ = ["CallerLoop"]

T = TypeVar("T")

_c_signal: Any
try:  # the C functions behind signal.getsignal/signal.signal, without their enum conversions
    import _signal as _c_signal  # type: ignore[import-not-found,no-redef]
except ImportError:  # pragma: no cover - an interpreter without CPython's _signal
    _c_signal = signal
_get_handler: Callable[[int], Any] = _c_signal.getsignal
_set_handler: Callable[[int, Any], Any] = _c_signal.signal

_SIGINT = int(signal.SIGINT)
"""Swapping the SIGINT handler around each call through ``signal``'s Python wrappers cost
7.5 us a call (three calls a trial); ``_signal``'s functions take the same arguments and
return the same handlers, as plain ints and callables."""

_POLL_S = 0.1
"""How often a waiting caller checks that someone still runs the loop for it."""


class CallerLoop:
    """An event loop with no thread of its own: the thread that calls :meth:`run` runs it.

    A call costs no thread switch: the caller runs the loop until its coroutine is done (a
    loop on a thread of its own cost two thread wake-ups and the GIL passing twice per call,
    85-90 us of CPU on the development machine, more than the query). Callers in other threads
    meanwhile are *guests*: each hands its coroutine to the loop and waits; the running caller
    (the *driver*) runs their coroutines alongside its own, so calls from several threads
    overlap on the server as before, and it goes on running the loop until the last guest's
    coroutine is done. A guest whose driver left (interrupted) runs the loop itself.

    **Ctrl-C.** The driver, when it is the main thread and Python's own SIGINT handler is in
    place, swaps in a handler for the call that cancels its coroutine (asyncpg then asks the
    server to cancel the statement in flight) and raises ``KeyboardInterrupt`` once the
    coroutine has ended, so the interruption never lands in the middle of the loop's or the
    driver's code; a second Ctrl-C raises at once, as ``asyncio.run`` does. A guest's wait is
    interrupted as any wait is, and its coroutine is cancelled.

    **Inside another running event loop** (Jupyter, or an ``async`` caller that makes a
    blocking call), the call runs on a short-lived helper thread while the caller waits. A
    coroutine of this loop must not call :meth:`run` (it would wait for itself):
    ``RuntimeError``. After ``fork`` the child must not use the parent's object (see
    ``_storage``).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.calls = 0
        """Coroutines run for synchronous callers so far (one per round trip on this path)."""
        self._mutex = threading.Lock()
        self._driving = False
        self._guests = 0
        self._guest_left: asyncio.Future[None] | None = None
        self._closed = False

    # -- calling -------------------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception).

        Raises:
            KeyboardInterrupt: Ctrl-C while waiting; ``coro`` was cancelled.
            RuntimeError: Called from a coroutine of this loop, or after :meth:`close`.
        """
        running = asyncio._get_running_loop()
        if running is not None:
            if running is self.loop:
                coro.close()
                raise RuntimeError(
                    "osk-postgres: a blocking call was made from its own event loop"
                )
            return _on_a_helper_thread(self.run, coro)
        with self._mutex:
            if self._closed:
                coro.close()
                raise RuntimeError("osk-postgres: the storage's event loop is closed")
            self.calls += 1
            guest = self._driving
            if guest:
                self._guests += 1
            else:
                self._driving = True
        if guest:
            return self._as_guest(coro)
        try:
            result = self._drive(self.loop.create_task(coro))
        except Exception:
            self._serve_guests()
            raise
        except BaseException:  # Ctrl-C: leave at once; a waiting guest runs the loop itself
            self._release(force=True)
            raise
        self._serve_guests()
        return result

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` here from another event loop: await the returned future there (a
        helper thread runs this loop meanwhile)."""
        return asyncio.get_running_loop().run_in_executor(None, self.run, coro)

    def close(self) -> None:
        """Close the loop once no call runs on it (now, or when the running ones end); calls
        made after this raise ``RuntimeError``."""
        with self._mutex:
            self._closed = True
            if self._driving or self._guests:  # the last call to end closes it
                return
            self._driving = True
        self._release()

    def _release(self, *, force: bool = False) -> bool:
        """Stop driving, unless guests still wait (``force``: even then; they take over).
        Closes the loop if :meth:`close` was called and no call is left."""
        with self._mutex:
            if self._guests and not force:
                return False
            self._driving = False
            closing = self._closed and not self._guests and not self.loop.is_closed()
            if closing:
                self._driving = True  # no one else may run it while it closes
        if closing:
            try:
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            finally:
                self.loop.close()
        return True

    # -- the driver ----------------------------------------------------------------------------
    def _drive(self, task: asyncio.Task[T]) -> T:
        """Run the loop until ``task`` is done; Ctrl-C cancels it (see the class doc)."""
        interrupts = 0
        own_handler = (
            threading.get_ident() == threading.main_thread().ident
            and _get_handler(_SIGINT) is signal.default_int_handler
        )
        if own_handler:

            def on_sigint(signum: int, frame: FrameType | None) -> None:
                nonlocal interrupts
                interrupts += 1
                if interrupts > 1 or task.done():
                    raise KeyboardInterrupt
                task.cancel()
                self.loop.call_soon_threadsafe(_nothing)  # wake the loop if it waits

            _set_handler(_SIGINT, on_sigint)
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            if interrupts:
                raise KeyboardInterrupt from None
            raise
        finally:
            if own_handler:
                _set_handler(_SIGINT, signal.default_int_handler)

    def _serve_guests(self) -> None:
        """Go on running the loop until no guest waits, then let the next caller drive."""
        while not self._release():
            try:
                self.loop.run_until_complete(self._until_a_guest_leaves())
            except BaseException:
                self._release(force=True)  # a waiting guest takes over (see _as_guest)
                raise

    async def _until_a_guest_leaves(self) -> None:
        self._guest_left = self.loop.create_future()
        with self._mutex:
            if self._guests == 0:
                return
        await self._guest_left

    # -- guests --------------------------------------------------------------------------------
    def _as_guest(self, coro: Coroutine[Any, Any, T]) -> T:
        """Hand ``coro`` to the driver's loop and wait for it; drive if the driver left."""
        done = threading.Event()
        ended: asyncio.Future[None] = self.loop.create_future()  # the same end, on the loop
        tasks: list[asyncio.Task[T]] = []

        def finished(task: asyncio.Task[T]) -> None:  # on the loop
            with self._mutex:
                self._guests -= 1
            left = self._guest_left
            if left is not None and not left.done():
                left.set_result(None)
            ended.set_result(None)
            done.set()

        def start() -> None:  # on the loop
            task = self.loop.create_task(coro)
            tasks.append(task)
            task.add_done_callback(finished)

        self.loop.call_soon_threadsafe(start)
        try:
            while not done.wait(_POLL_S):
                with self._mutex:
                    if self._driving:
                        continue
                    self._driving = True  # the driver was interrupted: run the loop here
                try:
                    self.loop.run_until_complete(ended)
                finally:
                    self._serve_guests()
        except BaseException:
            if not done.is_set():  # interrupted while waiting: cancel the coroutine
                self.loop.call_soon_threadsafe(lambda: tasks and tasks[0].cancel())
            raise
        return tasks[0].result()


def _nothing() -> None:
    pass


def _on_a_helper_thread(
    run: Callable[[Coroutine[Any, Any, T]], T], coro: Coroutine[Any, Any, T]
) -> T:
    """``run(coro)`` on a new thread, waited for here (a wait Ctrl-C interrupts)."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append((True, run(coro)))
        except BaseException as err:  # handed to the caller
            result.append((False, err))

    thread = threading.Thread(target=target, name="osk-postgres-call", daemon=True)
    thread.start()
    thread.join()
    ok, value = result[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
