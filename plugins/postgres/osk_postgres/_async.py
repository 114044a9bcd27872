"""The native async API: :class:`AsyncPostgresStorage` for asyncio applications."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from optuna_storage_kit import InvalidURLError, StorageURL, resolve_options
from osk_postgres._config import Settings
from osk_postgres._core import AsyncCore
from osk_postgres._methods import AsyncMethods
from osk_postgres._plugin import BACKEND

__all__ = ["ASYNC_METHODS", "AsyncPostgresStorage", "settings_from"]

T = TypeVar("T")
_logger = logging.getLogger("osk_postgres")

ASYNC_METHODS = frozenset(name for name in vars(AsyncMethods) if not name.startswith("_"))
"""The coroutine methods of :class:`AsyncPostgresStorage` and of ``PostgresStorage.aio``:
Optuna's ``BaseStorage`` methods with the same arguments and errors, plus ``flush``."""


def settings_from(url: str | StorageURL, options: Mapping[str, Any]) -> Settings:
    """Resolve a URL (query options allowed) and keyword options as ``open_storage`` does.

    Raises:
        InvalidURLError: Not an ``optuna+postgresql://`` URL, or it names no database.
        InvalidOptionError: An option is unknown, repeated, mistyped or out of range.
    """
    parsed = StorageURL(url)
    if parsed.scheme not in BACKEND.schemes:
        raise InvalidURLError(
            f"{parsed} is not a Postgres URL: write optuna+postgresql://user:pw@host:port/db"
        )
    resolved = resolve_options(
        BACKEND.all_options,
        parsed.query,
        options,
        backend=BACKEND.name,
        heartbeat_supported=BACKEND.capabilities.heartbeat,
    )
    return Settings.of(parsed.without_query(), resolved)


class AsyncPostgresStorage(AsyncMethods):
    """Optuna's storage methods as coroutines, on the caller's event loop.

    Example::

        async with AsyncPostgresStorage("optuna+postgresql://u:pw@host/db") as storage:
            study_id = await storage.create_new_study([StudyDirection.MINIMIZE], "s")
            trial_id = await storage.create_new_trial(study_id)
            await storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])

    The methods (:data:`ASYNC_METHODS`) take the arguments and raise the errors of Optuna's
    ``BaseStorage``; values are stored as JSON without the kit's serialization check (use
    ``optuna_storage_kit.check_attr`` first if needed). Safe for many concurrent tasks of one
    loop; use it only from the loop that opened it. The same database may be used at the same
    time by synchronous storages, RDBStorage and other processes.

    With ``write_behind`` (the default), a running trial's buffered writes are sent at most
    ``flush_interval`` seconds after they were made (a timer on the loop) and by :meth:`close`:
    close it (``async with``) before its loop ends, or ``await storage.flush()``.
    """

    def __init__(self, url: str | StorageURL, **options: Any) -> None:
        self._core = AsyncCore(settings_from(url, options))
        self._open = False
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        if self._core.settings.write_behind:
            self._core.on_buffered = self._arm

    async def open(self) -> AsyncPostgresStorage:
        """Connect (and create Optuna's schema in an empty database)."""
        if not self._open:
            await self._core.start()
            self._open = True
        return self

    async def close(self) -> None:
        """Send the buffered writes and close the pool."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            if self._open:
                await self._core.flush()
        finally:
            await self._core.close()
            self._open = False

    def _arm(self) -> None:
        """A write was buffered: flush within ``flush_interval`` (runs on the loop)."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._core.settings.flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._core.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _logger.warning("timed flush failed (%s); will retry", type(task.exception()).__name__)
            self._arm()

    async def __aenter__(self) -> AsyncPostgresStorage:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def osk_counters(self) -> dict[str, int]:
        """Deterministic operation counts since open: statements, round trips, commits."""
        counters = self._core.pool.counters
        return {k: counters[k] for k in ("statements", "round_trips", "commits")}

    def __repr__(self) -> str:
        return f"<AsyncPostgresStorage {self._core.settings.masked!r}>"

    async def _call(self, call: Callable[[AsyncCore], Awaitable[T]]) -> T:
        if not self._open:
            raise RuntimeError("AsyncPostgresStorage is not open: await storage.open() first")
        return await call(self._core)
