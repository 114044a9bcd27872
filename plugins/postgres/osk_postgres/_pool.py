"""The connections of one storage: a small pool of asyncpg connections on one event loop.

asyncpg's own ``Pool`` costs 85-115 us of CPU per acquire and release (measured here, more
than the client's share of a loopback round trip); this one costs a list operation. It does
less: no connection reset between uses (operations leave no session state), no recycling,
and a connection that ended an operation in an unknown state is dropped rather than cleaned.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import select
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Connections", "close_connection", "read_pending", "settle_cancellation"]


class Connections:
    """Up to ``size`` connections, opened on demand by ``connect()``; the most recently used
    idle one is handed out first, and a caller waits while all are busy. Not thread-safe: use
    it from the event loop it was made on."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[Any] = []
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._open = 0  # connections open or being opened
        self._closed = False

    async def acquire(self) -> Any:
        """A connection of this pool; the caller must :meth:`release` it.

        Raises:
            RuntimeError: The pool was closed.
            Exception: Whatever ``connect()`` raises.
        """
        while True:
            if self._closed:
                raise RuntimeError("osk-postgres: the storage's connections are closed")
            if self._idle:
                conn = self._idle.pop()
                await read_pending(conn)
                if not conn.is_closed():
                    return conn
                self._open -= 1  # closed while idle (the server went away): open another
                conn.terminate()
                continue
            if self._open < self._size:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken and cancelled at once: pass the turn on
                raise

    def release(self, conn: Any, *, reusable: bool = True) -> None:
        """Give ``conn`` back. It is closed instead when not ``reusable`` (an operation failed
        in a way that may leave it mid-protocol), in a transaction, closed, or the pool is."""
        if reusable and not self._closed and not conn.is_closed() and not conn.is_in_transaction():
            self._idle.append(conn)
        else:
            conn.terminate()
            self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self, timeout: float = 5.0) -> None:
        """Close the idle connections (those in use are closed when released)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            try:
                await asyncio.wait_for(conn.close(), timeout)
            except Exception:
                conn.terminate()
        while self._waiters:
            with contextlib.suppress(asyncio.InvalidStateError):
                self._waiters.popleft().set_result(None)  # they find the pool closed


def _socket(conn: Any) -> Any:
    """The socket under ``conn``, or None. asyncpg keeps its transport private."""
    transport = getattr(conn, "_transport", None)
    return transport.get_extra_info("socket") if transport is not None else None


async def close_connection(conn: Any, rounds: int = 20) -> None:
    """Close ``conn`` gracefully and let the loop close its socket, which happens some loop
    iterations later: the loop runs only during calls (``_runner``), and a socket left for the
    next call would be one connection more than the pool's size on the server meanwhile."""
    sock = _socket(conn)
    await conn.close()
    for _ in range(rounds):
        if sock is None or sock.fileno() < 0:
            return
        await asyncio.sleep(0)


async def read_pending(conn: Any, rounds: int = 20) -> None:
    """Let the loop read what the server sent ``conn`` while no call ran the loop.

    The loop runs only during calls (``_runner``), so a connection the server closed while it
    was idle (``pg_terminate_backend``, a restart) still looks open until the loop reads the
    server's farewell: read it now (a ``select`` that does not wait, then a loop iteration per
    message), and the pool replaces the connection instead of failing its next statement and
    retrying. asyncpg keeps the socket private; if it cannot be found, nothing is read here.
    """
    sock = _socket(conn)
    if sock is None:
        return
    for _ in range(rounds):
        if conn.is_closed():
            return
        try:  # a socket already closed (fileno -1) still waits for its protocol to hear it
            if sock.fileno() >= 0 and not select.select([sock], [], [], 0)[0]:
                return
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0)


async def settle_cancellation(conn: Any, timeout: float = 5.0) -> None:
    """Wait until asyncpg has cancelled the statement in flight on ``conn``, if it is doing so.

    A task cancelled in the middle of a statement (Ctrl-C) makes asyncpg send the server a
    cancel request from a task of the connection's own; closing the connection before that is
    done would drop the request, and the server would run the statement on (a write waiting on
    a lock would commit later). asyncpg has no public call for this: its pool uses the same
    private one, looked up with care here (if it is gone, the connection is just closed).
    """
    protocol = getattr(conn, "_protocol", None)
    cancelling = getattr(protocol, "_is_cancelling", None)
    wait = getattr(protocol, "_wait_for_cancellation", None)
    if cancelling is None or wait is None or not cancelling():
        return
    with contextlib.suppress(Exception):
        await wait(timeout)
