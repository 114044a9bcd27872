"""A private asyncio event loop on a thread of its own, which synchronous callers hand work to."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop running forever on a daemon thread; :meth:`run` blocks until a coroutine
    handed to it is done, :meth:`submit` gives an awaitable for another event loop.

    Any thread may call, from inside another running event loop too (Jupyter). The caller
    waits on a ``concurrent.futures.Future``, a wait that a signal interrupts: Ctrl-C raises
    ``KeyboardInterrupt`` in the caller at once and cancels the coroutine on the loop (asyncpg
    then asks the server to cancel the statement in flight and the connection stays in the
    pool). A second Ctrl-C interrupts whatever runs next, as always. No caller ever runs the
    loop, so no caller's interruption or garbage-collection finalizer can stop it for others.

    A coroutine must not call :meth:`run` from the loop's own thread (it would wait for
    itself): that raises ``RuntimeError``. After ``fork`` the child has no loop thread: the
    storage starts a new one there (see ``_storage``).
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.handoffs = 0
        """Coroutines handed to the loop so far (each costs two thread wake-ups)."""
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception).

        Raises:
            KeyboardInterrupt: A signal handler raised it while waiting; ``coro`` is cancelled.
            RuntimeError: Called from the loop's own thread, or after :meth:`close`.
        """
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise RuntimeError("osk-postgres: a blocking call was made from its own event loop")
        self.handoffs += 1
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise
        try:
            return future.result()
        except BaseException:
            if not future.done():  # interrupted while waiting, not the coroutine's error
                future.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` on this loop; await the returned future from the caller's loop."""
        self.handoffs += 1
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return asyncio.wrap_future(future)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop (its thread closes it) and wait for the thread, unless called on it."""
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # closed already
            return
        if threading.get_ident() != self._thread.ident:
            self._thread.join(timeout)
