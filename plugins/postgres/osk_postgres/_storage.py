"""The synchronous storage Optuna sees, driving the async core on its own event-loop thread."""

from __future__ import annotations

import asyncio
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


class _LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="osk-postgres-loop", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("osk-postgres: a blocking call was made from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` on this loop; await the result from any other event loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


def _shutdown(runner: _LoopThread, core: AsyncCore, pid: int) -> None:
    if os.getpid() != pid or not runner.thread.is_alive():
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(core.close(), runner.loop).result(timeout=5)
    runner.loop.call_soon_threadsafe(runner.loop.stop)
    runner.thread.join(timeout=5)
    if not runner.thread.is_alive():
        runner.loop.close()


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
    One object holds a small connection pool (``pool_size``) and an event-loop thread; it is
    thread-safe, and any number of processes and hosts may open the same database, together
    with Optuna's own RDBStorage. Finished trials are cached (they never change); trials this
    object runs are kept here too, so that reads of them need no round trip. ``aio`` gives the
    same methods as coroutines.

    Pickling keeps the URL and options; the copy opens its own pool when first used. After a
    ``fork`` the child opens its own pool and loop too.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pid = -1
        self._start_lock = threading.Lock()
        self._runner: _LoopThread | None = None
        self._core: AsyncCore | None = None
        self._ensure()

    # -- plumbing -----------------------------------------------------------------------------
    def _ensure(self) -> tuple[_LoopThread, AsyncCore]:
        if self._pid == os.getpid() and self._core is not None:
            assert self._runner is not None
            return self._runner, self._core
        with self._start_lock:
            if self._pid != os.getpid() or self._core is None:
                runner = _LoopThread()
                core = AsyncCore(self._settings)
                try:
                    runner.run(core.start())
                except BaseException:
                    _shutdown(runner, core, os.getpid())
                    raise
                self._runner, self._core, self._pid = runner, core, os.getpid()
                weakref.finalize(self, _shutdown, runner, core, self._pid)
        assert self._runner is not None and self._core is not None
        return self._runner, self._core

    def _run(self, method: str, *args: Any) -> Any:
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
