"""The async core: every storage method as a coroutine over one asyncpg pool.

:class:`AsyncPostgresStorage` is the native async API; the synchronous
:class:`~osk_postgres.PostgresStorage` runs one of these on its private event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import distribution_to_json, json_to_distribution
from optuna_storage_kit.toolkit.trials import FINISHED_NAMES, new_trial, replaced
from osk_postgres import _rows, _sql
from osk_postgres._cache import Batch, Cache, Owned
from osk_postgres._checks import check_template as _check_template
from osk_postgres._checks import not_updatable as _not_updatable
from osk_postgres._checks import step as _step
from osk_postgres._checks import text as _text
from osk_postgres._config import Settings
from osk_postgres._conn import Pool, Session
from osk_postgres._reads import ReadsMixin
from osk_postgres._schema import ensure_schema
from osk_postgres._studies import StudiesMixin

__all__ = ["AsyncCore"]


class AsyncCore(StudiesMixin, ReadsMixin):
    """Storage methods as coroutines, all to be awaited on the loop that ran :meth:`start`.

    Cached reads (finished trials, this process's running trials, study directions) are also
    offered as plain methods (``cached_*``) that never wait on the network.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = Pool(settings)
        self.cache = Cache()
        self.buffer = settings.write_behind
        self.on_buffered: Callable[[], None] | None = None
        """Called after each write kept in the buffer (the owner's timed flush)."""
        self._last_start: datetime | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        async def init(conn: Any) -> None:
            await ensure_schema(
                conn, self.settings, lambda f, *a: loop.run_in_executor(None, f, *a)
            )

        await self.pool.start(init)

    async def close(self) -> None:
        await self.pool.close()

    # -- creating and claiming trials ------------------------------------------------------------
    async def create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int:
        template = template_trial
        if template is not None:
            _check_template(template)
        state = template.state if template is not None else TrialState.RUNNING
        start = template.datetime_start if template is not None else datetime.now()
        complete = template.datetime_complete if template is not None else None
        batch = Batch.of_trial(template) if template is not None else None
        sc = self.cache.study(study_id)
        floor = sc.waiting_floor
        if template is None:  # a template's start (None for WAITING trials) is kept
            start = self._unique_start(datetime.now())
        top = sc.max_seen

        async def op(s: Session, attempt: int) -> tuple[int, int, int | None]:
            if attempt > 0 and template is None:  # did the unanswered attempt commit?
                row = await s.fetchrow(_sql.FIND_CREATED, study_id, state.name, start, top)
                if row is not None:
                    return row["o_trial_id"], row["o_number"], None
            args = (study_id, state.name, start, complete, floor)
            if batch is None:
                row = await s.fetchrow(_sql.CREATE_TRIAL, *args, write=True)
            else:
                async with s.transaction():
                    row = await s.fetchrow(_sql.CREATE_TRIAL, *args)
                    if row["o_trial_id"] is not None:
                        await s.fetchval(
                            _sql.APPLY,
                            row["o_trial_id"],
                            None,
                            None,
                            None,
                            state.name,
                            *batch.args(),
                        )
            if row["o_trial_id"] is None:
                raise KeyError(f"No study with study_id {study_id} exists.")
            return row["o_trial_id"], row["o_number"], row["o_first_waiting"]

        trial_id, number, first_waiting = await self.pool.run(op)
        with self.cache.lock:
            below = trial_id - 1 if state == TrialState.WAITING else trial_id
            sc.waiting_floor = below if first_waiting is None else min(below, first_waiting - 1)
            if template is not None:
                trial = copy.deepcopy(template)
                trial.number = number
                trial._trial_id = trial_id
            else:
                trial = new_trial(trial_id, number, start, state)
            if state == TrialState.RUNNING:
                self.cache.owned[trial_id] = Owned(study_id, trial)
            elif state.is_finished():
                self.cache.remember(study_id, trial)
            for name, dist in trial.distributions.items():
                sc.dists.setdefault(name, dist)
        return trial_id

    def _unique_start(self, start: datetime) -> datetime:
        """``start``, moved on by a microsecond if this process used it already."""
        with self.cache.lock:
            if self._last_start is not None and start <= self._last_start:
                start = self._last_start + timedelta(microseconds=1)
            self._last_start = start
        return start

    async def _claim(self, trial_id: int, values: Sequence[float] | None) -> bool:
        """WAITING -> RUNNING, for exactly one caller across all processes."""
        now = datetime.now()

        study_ids: dict[int, int] = {}

        async def op(s: Session, attempt: int) -> FrozenTrial | None:
            claimed = await s.fetchval(_sql.CLAIM_WAITING, trial_id, now, write=True)
            if claimed is None and attempt == 0:
                return None
            # Claimed; or the lost attempt may have claimed it: ours if it shows our start time.
            rows = await s.fetch(_sql.TRIAL_BY_ID, trial_id)
            found = _rows.trials_from_rows(rows, study_ids)
            if claimed is None and not (
                found and found[0].state == TrialState.RUNNING and found[0].datetime_start == now
            ):
                return None
            return found[0] if found else None

        trial = await self.pool.run(op)
        if trial is None:
            state = await self._state_of(trial_id)
            if state[0] in FINISHED_NAMES:
                raise _not_updatable(trial_id, state[0])
            return False
        owned = Owned(study_ids[trial_id], trial)
        with self.cache.lock:
            self.cache.owned[trial_id] = owned
            # Read while it waited, it was another's unfinished trial: it is ours now.
            self.cache.study(owned.study_id).others.pop(trial_id, None)
        if values is not None:
            owned.pending.values = list(values)
            await self._flush(trial_id, owned)
        return True

    async def _state_of(self, trial_id: int) -> tuple[str, int]:
        row = await self._read(_sql.TRIAL_STATE, trial_id, row=True)
        if row is None:
            raise KeyError(f"No trial with trial_id {trial_id} exists.")
        return row["state"], row["study_id"]

    # -- writing trials --------------------------------------------------------------------------
    async def _apply(
        self, trial_id: int, batch: Batch, state: TrialState | None = None, **times: Any
    ) -> None:
        """Send one batch (and maybe a new state) in one statement; raise if not updatable."""
        name = None if state is None else state.name

        async def op(s: Session, attempt: int) -> int:
            accept = name if attempt > 0 else None
            args = (times.get("start"), times.get("complete"), accept, *batch.args())
            return int(await s.fetchval(_sql.APPLY, trial_id, name, *args, write=True))

        if await self.pool.run(op) == 0:
            current, _ = await self._state_of(trial_id)
            raise _not_updatable(trial_id, current)

    async def _flush(
        self, trial_id: int, owned: Owned, state: TrialState | None = None, **times: Any
    ) -> None:
        with self.cache.lock:
            batch, owned.pending = owned.pending, Batch()
        try:
            await self._apply(trial_id, batch, state, **times)
        except UpdateFinishedTrialError:
            with self.cache.lock:
                self.cache.owned.pop(trial_id, None)
            raise
        except BaseException:
            with self.cache.lock:  # not sent: keep it for the next flush
                if owned.pending:
                    batch.merge(owned.pending)
                owned.pending = batch
            raise

    def _owned(self, trial_id: int) -> Owned | None:
        with self.cache.lock:
            return self.cache.owned.get(trial_id)

    def try_set_param_locally(
        self, trial_id: int, name: str, internal: float, dist: BaseDistribution
    ) -> bool:
        """Buffer a param of an owned trial without I/O when possible; False if I/O is needed."""
        if not self.buffer:
            return False
        with self.cache.lock:
            owned = self.cache.owned.get(trial_id)
            if owned is None:
                return False
            known = self.cache.study(owned.study_id).dists.get(name)
            if known is None:
                return False
            check_distribution_compatibility(known, dist)
            self._record_param(owned, name, internal, dist)
            return True

    def _record_param(
        self, owned: Owned, name: str, internal: float, dist: BaseDistribution
    ) -> None:
        owned.pending.params[name] = (internal, distribution_to_json(dist))
        trial = owned.trial = replaced(owned.trial)
        trial._params = {**trial._params, name: dist.to_external_repr(internal)}
        trial._distributions = {**trial._distributions, name: dist}
        self._buffered()

    def _buffered(self) -> None:
        if self.buffer and self.on_buffered is not None:
            self.on_buffered()

    def has_pending(self) -> bool:
        """Whether any running trial of this storage has writes not yet sent."""
        with self.cache.lock:
            return any(o.pending for o in self.cache.owned.values())

    async def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        _text(param_name, "param name")
        if self.try_set_param_locally(trial_id, param_name, param_value_internal, distribution):
            return
        owned = self._owned(trial_id)
        if owned is not None:
            study_id = owned.study_id
        else:
            state, study_id = await self._state_of(trial_id)
            if state in FINISHED_NAMES:
                raise _not_updatable(trial_id, state)
        sc = self.cache.study(study_id)
        previous = sc.dists.get(param_name)
        if previous is None:
            text = await self._read(_sql.PREVIOUS_DISTRIBUTION, study_id, param_name)
            previous = None if text is None else json_to_distribution(text)
        if previous is not None:
            check_distribution_compatibility(previous, distribution)
        with self.cache.lock:
            sc.dists.setdefault(param_name, distribution)
            if owned is not None:
                self._record_param(owned, param_name, param_value_internal, distribution)
        if owned is None:
            batch = Batch(
                params={param_name: (param_value_internal, distribution_to_json(distribution))}
            )
            await self._apply(trial_id, batch)
        elif not self.buffer:
            await self._flush(trial_id, owned)

    async def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        if state == TrialState.RUNNING:
            owned = self._owned(trial_id)
            if owned is not None:
                return False
            return await self._claim(trial_id, values)
        if state == TrialState.WAITING:  # back in the queue: the WAITING scan must see it
            with self.cache.lock:
                for sc in self.cache.studies.values():
                    sc.waiting_floor = min(sc.waiting_floor, trial_id - 1)
        now = datetime.now()
        complete = now if state.is_finished() else None
        owned = self._owned(trial_id)
        if owned is None:
            batch = Batch(values=None if values is None else list(values))
            await self._apply(trial_id, batch, state, complete=complete)
            return True
        with self.cache.lock:
            if values is not None:
                owned.pending.values = list(values)
        await self._flush(trial_id, owned, state, complete=complete)
        with self.cache.lock:
            trial = replaced(owned.trial)
            trial.state = state
            if values is not None:
                trial.values = list(values)
            if complete is not None:
                trial.datetime_complete = complete
            self.cache.owned.pop(trial_id, None)  # no longer running: no longer ours
            # Finished: cached for good; WAITING again: another unfinished trial, which the
            # next read of the study reads again (ids below the read position come back only
            # from the cache).
            self.cache.remember(owned.study_id, trial)
        return True

    async def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        owned = self._owned(trial_id)
        if owned is None and not -(2**31) <= step < 2**31:
            # Report a missing or finished trial as Optuna does, before the schema's limit.
            state, _ = await self._state_of(trial_id)
            if state in FINISHED_NAMES:
                raise _not_updatable(trial_id, state)
        _step(step)
        if owned is None:
            await self._apply(trial_id, Batch(inter={step: intermediate_value}))
            return
        with self.cache.lock:
            owned.pending.inter[step] = intermediate_value
            trial = owned.trial = replaced(owned.trial)
            trial.intermediate_values = {**trial.intermediate_values, step: intermediate_value}
        await self._flush(trial_id, owned)

    async def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        await self._set_trial_attr(trial_id, key, value, user=True)

    async def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        await self._set_trial_attr(trial_id, key, value, user=False)

    def try_set_attr_locally(self, trial_id: int, key: str, value: Any, *, user: bool) -> bool:
        """Buffer an attribute of an owned trial without I/O when buffering; else False."""
        if not self.buffer:
            return False
        _text(key, "attribute key")
        return self._buffer_attr(trial_id, key, json.dumps(value), user=user)

    def _buffer_attr(self, trial_id: int, key: str, text: str, *, user: bool) -> bool:
        """Record an encoded attribute in an owned trial's buffer; False if it is not owned."""
        with self.cache.lock:
            owned = self.cache.owned.get(trial_id)
            if owned is None:
                return False
            self._record_attr(owned, key, text, user=user)
            return True

    def _record_attr(self, owned: Owned, key: str, text: str, *, user: bool) -> None:
        (owned.pending.user if user else owned.pending.system)[key] = text
        trial = owned.trial = replaced(owned.trial)
        if user:
            trial._user_attrs = {**trial._user_attrs, key: json.loads(text)}
        else:
            trial._system_attrs = {**trial._system_attrs, key: json.loads(text)}
        self._buffered()

    async def _set_trial_attr(self, trial_id: int, key: str, value: Any, *, user: bool) -> None:
        _text(key, "attribute key")
        text = json.dumps(value)  # checked and encoded once, whichever way it goes
        if self.buffer and self._buffer_attr(trial_id, key, text, user=user):
            return
        owned = self._owned(trial_id)
        if owned is None:
            batch = Batch(user={key: text}) if user else Batch(system={key: text})
            await self._apply(trial_id, batch)
            return
        with self.cache.lock:
            self._record_attr(owned, key, text, user=user)
        await self._flush(trial_id, owned)

    async def flush(self) -> None:
        """Send every buffered write of this storage's running trials now."""
        with self.cache.lock:
            owned = [(t, o) for t, o in self.cache.owned.items() if o.pending]
        for trial_id, item in owned:
            await self._flush(trial_id, item)

    async def record_heartbeat(self, trial_id: int) -> None:
        """Send the trial's buffered writes (if any), then record its heartbeat."""
        owned = self._owned(trial_id)
        if owned is not None and owned.pending:
            # Finished by another process (stale): the trial's own state write reports it.
            with contextlib.suppress(UpdateFinishedTrialError):
                await self._flush(trial_id, owned)
        await super().record_heartbeat(trial_id)
