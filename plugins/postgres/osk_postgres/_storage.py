"""The synchronous storage Optuna sees, running the async core on its private event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Container, Coroutine, Sequence
from typing import Any, TypeVar

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit import HeartbeatSettings
from optuna_storage_kit.toolkit import lifecycle
from osk_postgres._config import Settings
from osk_postgres._core import AsyncCore
from osk_postgres._flusher import TimedFlush
from osk_postgres._methods import AsyncMethods
from osk_postgres._runner import CallerLoop

__all__ = ["PostgresStorage"]

T = TypeVar("T")
_logger = logging.getLogger("osk_postgres")


@dataclasses.dataclass(frozen=True)
class _Engine:
    """What one storage object runs in one process: loop, core, timed flush."""

    runner: CallerLoop
    core: AsyncCore
    flusher: TimedFlush
    pid: int

    def flush(self) -> None:
        """Send the buffered writes (no I/O when there are none)."""
        if self.core.has_pending():
            self.runner.run(self.core.flush())

    def shutdown(self, *, flush: bool) -> None:
        """Stop the timed flush, send what is buffered (``flush``), close the pool and loop.
        In another process (a fork's child) nothing is touched: the parent owns it all."""
        self.flusher.stop()
        if os.getpid() != self.pid or self.runner.loop.is_closed():
            return
        try:
            if flush:
                self.flush()
        finally:
            with contextlib.suppress(Exception):
                self.runner.run(asyncio.wait_for(self.core.close(), 10))
            with contextlib.suppress(Exception):
                self.runner.close()


def _collected(engine: _Engine) -> None:
    """A garbage-collected storage's last act, deferred to the lifecycle thread (a finalizer
    may run inside any call, even one running another storage's loop: it must not block)."""
    try:
        engine.shutdown(flush=True)
    except Exception as err:
        _logger.warning(
            "osk-postgres: buffered writes of a collected storage could not be sent (%s)",
            type(err).__name__,
        )


def _timed_flush(ref: weakref.ref[PostgresStorage]) -> bool:
    storage = ref()
    if storage is None:
        return False
    engine = storage._engine
    if engine is not None and engine.pid == os.getpid():
        engine.flush()
    return True


class _AioView(AsyncMethods):
    """``storage.aio``: the storage's methods as coroutines, awaitable from any event loop.

    They run on the storage's own loop and share its cache and pool.
    """

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage

    async def _call(self, call: Callable[[AsyncCore], Awaitable[T]]) -> T:
        engine = self._storage._ensure()

        async def on_the_storage_loop() -> T:
            return await call(engine.core)

        return await engine.runner.submit(on_the_storage_loop())


class PostgresStorage(BaseStorage, HeartbeatSettings):
    """Optuna storage on Postgres in Optuna's RDB schema, driven by asyncpg.

    Open it with ``optuna_storage_kit.open_storage("optuna+postgresql://user:pw@host/db")``.
    One object holds a small connection pool (``pool_size``) and a private event loop that
    the calling threads run themselves (see :class:`~osk_postgres._runner.CallerLoop`); it is
    thread-safe, a
    call waiting on the server is interrupted by Ctrl-C (``KeyboardInterrupt``), and
    any number of processes and hosts may open the same database, together with Optuna's own
    RDBStorage. Finished trials are cached (they never change); trials this object runs are
    kept here too, so that reads of them need no round trip. ``aio`` gives the same methods as
    coroutines.

    With ``write_behind`` (the default), a running trial's params and attributes are sent with
    its next intermediate value, heartbeat or state change, at most ``flush_interval`` seconds
    after they were made (a timed flush), and whenever this object's life in a process ends:
    :meth:`close`, interpreter exit, garbage collection (deferred to the kit's lifecycle
    thread) and ``fork`` (in the parent, before it).

    Pickling keeps the URL and options; the copy opens its own pool when first used. After a
    ``fork`` the child opens its own pool and loop too, and never uses the parent's.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.heartbeat_interval = settings.opt("heartbeat_interval")
        self.grace_period = settings.opt("grace_period")
        self.heartbeat_stale_trial_callback = settings.opt("heartbeat_stale_trial_callback")
        self._start_lock = threading.Lock()
        self._engine: _Engine | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._ensure()

    # -- plumbing -----------------------------------------------------------------------------
    def _ensure(self) -> _Engine:
        engine = self._engine
        if engine is not None and engine.pid == os.getpid():
            return engine
        with self._start_lock:
            engine = self._engine
            if engine is None or engine.pid != os.getpid():
                engine = self._start()
        return engine

    def _start(self) -> _Engine:
        settings = self._settings
        runner = CallerLoop()
        core = AsyncCore(settings)
        flusher = TimedFlush(
            settings.flush_interval,
            functools.partial(_timed_flush, weakref.ref(self)),
            f"osk-postgres-flush {settings.url.database}",
        )
        engine = _Engine(runner, core, flusher, os.getpid())
        try:
            runner.run(core.start())
        except BaseException:
            engine.shutdown(flush=False)
            raise
        if settings.write_behind:
            core.on_buffered = flusher.note
        self._engine = engine
        self._finalizer = weakref.finalize(
            self, lifecycle.defer, functools.partial(_collected, engine)
        )
        lifecycle.track(
            self,
            flush=PostgresStorage._flush_for_lifecycle,
            after_fork_in_child=PostgresStorage._forget_after_fork,
        )
        return engine

    def _run(self, call: Callable[[AsyncCore], Coroutine[Any, Any, T]]) -> T:
        engine = self._ensure()
        return engine.runner.run(call(engine.core))

    def _flush_for_lifecycle(self) -> None:
        """Interpreter exit and before ``fork``: send the buffered writes."""
        engine = self._engine
        if engine is not None and engine.pid == os.getpid() and not engine.runner.loop.is_closed():
            engine.flush()

    def _forget_after_fork(self) -> None:
        """In a forked child: drop the parent's loop, pool and threads without touching them
        (the parent flushed before the fork); the next call opens this process's own."""
        self._start_lock = threading.Lock()
        if self._finalizer is not None:
            self._finalizer.detach()
        self._engine = self._finalizer = None

    @property
    def aio(self) -> _AioView:
        """The storage methods as coroutines (``await storage.aio.get_trial(trial_id)``)."""
        return _AioView(self)

    @property
    def settings(self) -> Settings:
        return self._settings

    def close(self) -> None:
        """Send the buffered writes, close the pool and the loop (reopened on next use)."""
        with self._start_lock:
            engine, self._engine = self._engine, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            lifecycle.untrack(self)
            if engine is not None:
                engine.shutdown(flush=True)

    def osk_counters(self) -> dict[str, int]:
        """Deterministic operation counts since open: statements, round trips, commits."""
        counters = self._ensure().core.pool.counters
        return {k: counters[k] for k in ("statements", "round_trips", "commits")}

    def connection_stats(self) -> dict[str, int]:
        """Connections lost and operations retried since open (not deterministic)."""
        pool = self._ensure().core.pool
        return {"reconnects": pool.reconnects, "retries": pool.counters["retries"]}

    def flush(self) -> None:
        """Send the buffered writes of this object's running trials now (``write_behind``)."""
        self._ensure().flush()

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
        return int(self._run(lambda c: c.create_new_study(directions, study_name)))

    def delete_study(self, study_id: int) -> None:
        self._run(lambda c: c.delete_study(study_id))

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._run(lambda c: c.set_study_user_attr(study_id, key, value))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._run(lambda c: c.set_study_system_attr(study_id, key, value))

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._run(lambda c: c.get_study_id_from_name(study_name)))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._run(lambda c: c.get_study_name_from_id(study_id)))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        cached = self._ensure().core.cached_directions(study_id)
        if cached is not None:
            return cached
        return self._run(lambda c: c.get_study_directions(study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._run(lambda c: c.get_study_user_attrs(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._run(lambda c: c.get_study_system_attrs(study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._run(lambda c: c.get_all_studies())

    # -- trials -------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._run(lambda c: c.create_new_trial(study_id, template_trial)))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        core = self._ensure().core
        if core.try_set_param_locally(trial_id, param_name, param_value_internal, distribution):
            return
        self._run(
            lambda c: c.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        )

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(
            self._run(lambda c: c.get_trial_id_from_study_id_trial_number(study_id, trial_number))
        )

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return bool(self._run(lambda c: c.set_trial_state_values(trial_id, state, values)))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._run(lambda c: c.set_trial_intermediate_value(trial_id, step, intermediate_value))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        core = self._ensure().core
        if not core.try_set_attr_locally(trial_id, key, value, user=True):
            self._run(lambda c: c.set_trial_user_attr(trial_id, key, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        core = self._ensure().core
        if not core.try_set_attr_locally(trial_id, key, value, user=False):
            self._run(lambda c: c.set_trial_system_attr(trial_id, key, value))

    def get_trial(self, trial_id: int) -> FrozenTrial:
        core = self._ensure().core
        cached = core.cached_trial(trial_id)
        return cached if cached is not None else self._run(lambda c: c.get_trial(trial_id))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._run(lambda c: c.get_all_trials(study_id, deepcopy, states))

    # -- heartbeat ------------------------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        self._run(lambda c: c.record_heartbeat(trial_id))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self.stale_after()
        return self._run(lambda c: c.get_stale_trial_ids(study_id, grace))
