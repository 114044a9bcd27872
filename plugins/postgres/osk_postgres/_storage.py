"""The synchronous storage Optuna sees, running the async core on its private event loop."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Container, Coroutine, Sequence
from typing import Any, TypeVar

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from osk_postgres._config import Settings
from osk_postgres._core import AsyncCore

__all__ = ["PostgresStorage"]

T = TypeVar("T")


class _LoopRunner:
    """A private asyncio event loop, run by the thread that calls (no hand-off to a loop thread).

    Handing each call to a dedicated loop thread costs two thread wake-ups per call (measured at
    60-150 us on the development machine, against ~100 us for a loopback round trip). Instead,
    the first thread to call runs the loop itself (``run_until_complete``) and is its *owner*
    until its call is done. A thread that calls while another owns the loop is a *guest*: it
    submits its coroutine to the running loop (``run_coroutine_threadsafe``) and waits; the
    owner keeps running the loop until every guest's coroutine is done before it lets go, so a
    submitted coroutine always has a thread running it. Pool size, not this, bounds how many
    operations run at once. A caller inside a running event loop (Jupyter, ``storage.aio``)
    cannot run another loop in its thread, so its call is run from a helper thread.
    """

    def __init__(self, helpers: int) -> None:
        self.loop = asyncio.new_event_loop()
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._guests = 0
        self._idle: asyncio.Future[None] | None = None
        self._helpers = helpers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        running = _running_loop()
        if running is self.loop:
            coro.close()
            raise RuntimeError("osk-postgres: a blocking call was made from its own event loop")
        if running is not None:
            return self._executor_for_helpers().submit(self.run, coro).result()
        with self._mutex:
            lead = self._owner is None
            if lead:
                self._owner = threading.get_ident()
            else:
                self._guests += 1
                future = asyncio.run_coroutine_threadsafe(self._as_guest(coro), self.loop)
        return self._lead(coro) if lead else future.result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` from a helper thread; await the result from any other event loop."""
        return asyncio.wrap_future(self._executor_for_helpers().submit(self.run, coro))

    def _executor_for_helpers(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._mutex:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self._helpers, thread_name_prefix="osk-postgres"
                )
            return self._executor

    async def _as_guest(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        finally:
            with self._mutex:
                self._guests -= 1
                if self._guests == 0 and self._idle is not None and not self._idle.done():
                    self._idle.set_result(None)

    def _lead(self, coro: Coroutine[Any, Any, T]) -> T:
        # The owner lets go in the same critical section that sees no guest left: a thread
        # that arrives a moment later finds no owner and runs the loop itself. (Letting go
        # after the mutex was released would strand a guest that arrived in between.)
        task = self.loop.create_task(_outcome(coro))
        waiter: asyncio.Future[Any] = task
        try:
            while True:
                self.loop.run_until_complete(waiter)
                with self._mutex:
                    if self._guests == 0:
                        self._owner = self._idle = None
                        break
                    self._idle = waiter = self.loop.create_future()
        except BaseException:  # interrupted (Ctrl-C): finish what was started, then let go
            with contextlib.suppress(BaseException):
                self.loop.run_until_complete(task)
            while True:
                with self._mutex:
                    if self._guests == 0:
                        self._owner = self._idle = None
                        break
                with contextlib.suppress(BaseException):
                    self.loop.run_until_complete(asyncio.sleep(0.001))
            raise
        ok, result = task.result()
        if not ok:
            raise result
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._executor is not None:  # no wait: this may run on one of its threads
            self._executor.shutdown(wait=False)
        self.loop.close()


async def _outcome(coro: Coroutine[Any, Any, T]) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception)``: the owner serves guests either way."""
    try:
        return True, await coro
    except BaseException as err:
        return False, err


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _finalize(runner: _LoopRunner, core: AsyncCore, pid: int) -> None:
    """A garbage-collected storage's finalizer.

    Garbage collection may run it in the middle of any frame, including one that is running
    another storage's loop while holding a lock the helper threads need. Then nothing can be
    closed here without risking a deadlock: the work is left for the next call of any storage
    in this process (``_drain_deferred``) or for interpreter exit.
    """
    if _running_loop() is not None:
        _deferred.append((runner, core, pid))
    else:
        _shutdown(runner, core, pid)


def _shutdown(runner: _LoopRunner, core: AsyncCore, pid: int) -> None:
    """Close the pool and the loop."""
    if os.getpid() != pid or runner.loop.is_closed():
        return
    with contextlib.suppress(Exception):
        runner.run(asyncio.wait_for(core.close(), 10))
    with contextlib.suppress(Exception):
        runner.close()


_deferred: list[tuple[_LoopRunner, AsyncCore, int]] = []


def _drain_deferred() -> None:
    """Finish the shutdowns a finalizer could not do."""
    if _running_loop() is not None:
        return
    while _deferred:
        try:
            item = _deferred.pop()
        except IndexError:  # another thread took the last one
            return
        _shutdown(*item)


atexit.register(_drain_deferred)


class _AioView:
    """``storage.aio``: the storage's methods as coroutines, awaitable from any event loop.

    They run on the storage's own loop thread and share its cache and pool.
    """

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Callable[..., Any]:
        from osk_postgres._async import ASYNC_METHODS

        if name not in ASYNC_METHODS:
            raise AttributeError(f"storage.aio has no method {name!r}")
        storage = self._storage

        async def call(*args: Any, **kwargs: Any) -> Any:
            runner, core = storage._ensure()
            return await runner.submit(getattr(core, name)(*args, **kwargs))

        call.__name__ = name
        return call


class PostgresStorage(BaseStorage, BaseHeartbeat):
    """Optuna storage on Postgres in Optuna's RDB schema, driven by asyncpg.

    Open it with ``optuna_storage_kit.open_storage("optuna+postgresql://user:pw@host/db")``.
    One object holds a small connection pool (``pool_size``) and a private event loop that the
    calling thread runs (see ``_LoopRunner``); it is thread-safe, and any number of processes
    and hosts may open the same database, together with Optuna's own RDBStorage. Finished
    trials are cached (they never change); trials this object runs are kept here too, so that
    reads of them need no round trip. ``aio`` gives the
    same methods as coroutines.

    Pickling keeps the URL and options; the copy opens its own pool when first used. After a
    ``fork`` the child opens its own pool and loop too.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid = -1
        self._start_lock = threading.Lock()
        self._runner: _LoopRunner | None = None
        self._core: AsyncCore | None = None
        self._ensure()

    # -- plumbing -----------------------------------------------------------------------------
    def _ensure(self) -> tuple[_LoopRunner, AsyncCore]:
        if self._pid == os.getpid() and self._core is not None:
            assert self._runner is not None
            return self._runner, self._core
        with self._start_lock:
            if self._pid != os.getpid() or self._core is None:
                runner = _LoopRunner(max(4, int(self._settings.opt("pool_size") or 2)))
                core = AsyncCore(self._settings)
                try:
                    runner.run(core.start())
                except BaseException:
                    _shutdown(runner, core, os.getpid())
                    raise
                self._runner, self._core, self._pid = runner, core, os.getpid()
                weakref.finalize(self, _finalize, runner, core, self._pid)
        assert self._runner is not None and self._core is not None
        return self._runner, self._core

    def _run(self, method: str, *args: Any) -> Any:
        if _deferred:
            _drain_deferred()
        runner, core = self._ensure()
        return runner.run(getattr(core, method)(*args))

    @property
    def aio(self) -> _AioView:
        """The storage methods as coroutines (``await storage.aio.get_trial(trial_id)``)."""
        return _AioView(self)

    @property
    def settings(self) -> Settings:
        return self._settings

    def close(self) -> None:
        """Close the pool and stop the loop thread (reopened on next use)."""
        with self._start_lock:
            if self._runner is not None and self._core is not None:
                _shutdown(self._runner, self._core, self._pid)
            self._runner = self._core = None
            self._pid = -1

    def osk_counters(self) -> dict[str, int]:
        """Deterministic operation counts since open: statements, round trips, commits."""
        _, core = self._ensure()
        return {k: core.pool.counters[k] for k in ("statements", "round_trips", "commits")}

    def connection_stats(self) -> dict[str, int]:
        """Connections lost and operations retried since open (not deterministic)."""
        _, core = self._ensure()
        return {"reconnects": core.pool.reconnects, "retries": core.pool.counters["retries"]}

    def flush(self) -> None:
        """Send the buffered writes of this object's running trials now (``buffer_writes``)."""
        self._run("flush")

    def __repr__(self) -> str:
        return f"<PostgresStorage {self._settings.masked!r}>"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._settings.url, "options": dict(self._settings.options)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Settings(state["url"], state["options"]))  # type: ignore[misc]

    # -- studies ------------------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._run("create_new_study", directions, study_name))

    def delete_study(self, study_id: int) -> None:
        self._run("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._run("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._run("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._run("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._run("get_study_name_from_id", study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        _, core = self._ensure()
        cached = core.cached_directions(study_id)
        return cached if cached is not None else self._run("get_study_directions", study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._run("get_study_user_attrs", study_id)  # type: ignore[no-any-return]

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._run("get_study_system_attrs", study_id)  # type: ignore[no-any-return]

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._run("get_all_studies")  # type: ignore[no-any-return]

    # -- trials -------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._run("create_new_trial", study_id, template_trial))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        _, core = self._ensure()
        if core.try_set_param_locally(trial_id, param_name, param_value_internal, distribution):
            return
        self._run("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._run("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return bool(self._run("set_trial_state_values", trial_id, state, values))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._run("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        _, core = self._ensure()
        if not core.try_set_attr_locally(trial_id, key, value, user=True):
            self._run("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        _, core = self._ensure()
        if not core.try_set_attr_locally(trial_id, key, value, user=False):
            self._run("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        _, core = self._ensure()
        cached = core.cached_trial(trial_id)
        return cached if cached is not None else self._run("get_trial", trial_id)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._run("get_all_trials", study_id, deepcopy, states)  # type: ignore[no-any-return]

    # -- heartbeat ------------------------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        self._run("record_heartbeat", trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        interval, grace, _ = self._settings.heartbeat()
        assert interval is not None
        return self._run("get_stale_trial_ids", study_id, grace or 2 * interval)  # type: ignore[no-any-return]

    def get_heartbeat_interval(self) -> int | None:
        return self._settings.heartbeat()[0]

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._settings.heartbeat()[2]

    def get_failed_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.get_heartbeat_stale_trial_callback()
