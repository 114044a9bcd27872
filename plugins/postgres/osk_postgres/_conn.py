"""The connection pool: counted round trips, retries on lost connections and on deadlocks.

Every operation is an ``op(session, attempt)`` coroutine. It runs on one pooled connection; if
the connection is lost (server restart, ``pg_terminate_backend``, network) or the server
reports a deadlock or serialization failure, the operation runs again on a fresh connection
with ``attempt`` increased, until ``reconnect_timeout`` has passed. Operations that write are
written so that running them again is safe (see ``_core``): a retry never writes a trial twice.
Before a retry, the backend process of the lost connection is waited for until it has ended, so
a commit that was in flight is either visible or rolled back when the retry looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import asyncpg.exceptions as pgerr

from osk_postgres._config import Settings
from osk_postgres._errors import connect_failure, lost_connection
from osk_postgres._pool import Connections, close_connection, settle_cancellation

__all__ = ["Pool", "Session"]

T = TypeVar("T")
_logger = logging.getLogger("osk_postgres")

_LOST = (
    pgerr.PostgresConnectionError,
    pgerr.AdminShutdownError,
    pgerr.CrashShutdownError,
    pgerr.CannotConnectNowError,
    asyncpg.InterfaceError,
    pgerr.InternalClientError,  # a connection left mid-protocol by a lost server
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
_RETRY_TX = (pgerr.SerializationError, pgerr.DeadlockDetectedError)


def is_connection_loss(err: BaseException) -> bool:
    return isinstance(err, _LOST) and not isinstance(err, pgerr.QueryCanceledError)


class Session:
    """One connection, counting statements, round trips and commits."""

    __slots__ = ("_conn", "_counters")

    def __init__(self, conn: Any, counters: dict[str, int]) -> None:
        self._conn = conn
        self._counters = counters

    def _count(self, commits: int = 0) -> None:
        c = self._counters
        c["statements"] += 1
        c["round_trips"] += 1
        c["commits"] += commits

    async def fetch(self, sql: str, *args: Any, write: bool = False) -> list[Any]:
        self._count(int(write and not self._conn.is_in_transaction()))
        return await self._conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any, write: bool = False) -> Any:
        self._count(int(write and not self._conn.is_in_transaction()))
        return await self._conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any, write: bool = False) -> Any:
        self._count(int(write and not self._conn.is_in_transaction()))
        return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any, write: bool = True) -> str:
        self._count(int(write and not self._conn.is_in_transaction()))
        return await self._conn.execute(sql, *args)  # type: ignore[no-any-return]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN ... COMMIT (READ COMMITTED); each is one round trip."""
        self._counters["round_trips"] += 1
        tx = self._conn.transaction()
        await tx.start()
        try:
            yield
        except BaseException:
            if not self._conn.is_closed():
                with contextlib.suppress(Exception):
                    await tx.rollback()
            raise
        self._counters["round_trips"] += 1
        self._counters["commits"] += 1
        await tx.commit()


class Pool:
    """The storage's connections (bound to the event loop it was started on), running
    operations with retries."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: Connections | None = None
        self.counters = {"statements": 0, "round_trips": 0, "commits": 0, "retries": 0}
        self.reconnects = 0

    async def start(self, init: Callable[[Any], Awaitable[None]] | None = None) -> None:
        """Connect once for ``init(conn)``, then open the pool.

        Raises:
            PostgresConnectionError: The server cannot be reached or refuses the connection.
            StoreNotFoundError: The database does not exist.
        """
        kwargs = self._settings.connect_kwargs()
        size = int(self._settings.opt("pool_size") or 2)
        if init is not None:
            conn = await self._connecting(asyncpg.connect(**kwargs))
            try:
                await init(conn)
            finally:
                await close_connection(conn)

        async def connect() -> Any:
            conn = await asyncpg.connect(**kwargs)
            try:
                await self._init_connection(conn)
            except BaseException:
                conn.terminate()
                raise
            return conn

        pool = Connections(connect, size)
        pool.release(await self._connecting(pool.acquire()))  # one connection, opened now
        self._pool = pool

    async def _connecting(self, attempt: Awaitable[T]) -> T:
        """Await a connection attempt; its failure becomes one clear error (``_errors``)."""
        try:
            return await attempt
        except Exception as err:
            failure = connect_failure(err, self._settings)
            if failure is None:
                raise
            raise failure from None

    async def _init_connection(self, conn: Any) -> None:
        from osk_postgres._sql import CREATE_TRIAL_FUNCTION

        if not self._settings.read_only:  # a temporary function is still a catalog change
            await conn.execute(CREATE_TRIAL_FUNCTION)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        # Transports (TLS ones, and those of a failed connection attempt) finish closing in
        # later loop iterations: let them, so that no socket is left open when the loop stops.
        for _ in range(20):
            await asyncio.sleep(0.005)

    async def run(self, op: Callable[[Session, int], Awaitable[T]]) -> T:
        """Run ``op`` on a pooled connection, retrying it as described in the module doc."""
        deadline = time.monotonic() + float(self._settings.opt("reconnect_timeout") or 0)
        attempt = 0
        lost_pid: int | None = None
        while True:
            pid = None
            pool = self._pool
            if pool is None:
                raise RuntimeError("osk-postgres: the storage's connections are closed")
            try:
                conn = await pool.acquire()
                try:
                    pid = conn.get_server_pid()
                    if lost_pid is not None:
                        await self._wait_backend_gone(conn, lost_pid, deadline)
                        lost_pid = None
                    result = await op(Session(conn, self.counters), attempt)
                except BaseException as err:
                    # An error the server reported leaves the connection ready for the next
                    # statement; anything else (a lost connection, a cancellation, Ctrl-C) may
                    # leave it mid-protocol: never hand it out again.
                    in_sync = isinstance(err, pgerr.PostgresError) and not is_connection_loss(err)
                    try:
                        if not in_sync and not is_connection_loss(err):
                            await settle_cancellation(conn)
                    finally:
                        pool.release(conn, reusable=in_sync)
                    raise
                pool.release(conn)
                return result
            except _RETRY_TX as err:
                if time.monotonic() > deadline + 30:
                    raise
                _logger.debug("retrying after %s", type(err).__name__)
                await asyncio.sleep(random.uniform(0.001, 0.02) * min(attempt + 1, 10))
            except Exception as err:
                if not is_connection_loss(err):
                    raise
                if time.monotonic() > deadline:
                    raise lost_connection(err, self._settings) from None
                self.reconnects += 1
                lost_pid = pid
                _logger.warning(
                    "connection to %s lost (%s); retrying",
                    self._settings.masked,
                    type(err).__name__,
                )
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
            attempt += 1
            self.counters["retries"] += 1

    async def _wait_backend_gone(self, conn: Any, pid: int, deadline: float) -> None:
        """Wait until the server process of a lost connection has ended."""
        while time.monotonic() < deadline:
            alive = await conn.fetchval("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid)
            if not alive:
                return
            await asyncio.sleep(0.02)
