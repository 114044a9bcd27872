"""Reading trials: the cache first, then incremental queries (part of the async core)."""

from __future__ import annotations

import operator
from collections.abc import Container
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.trials import copy_trials, gc_paused
from osk_postgres import _rows, _sql

if TYPE_CHECKING:
    from osk_postgres._cache import Cache
    from osk_postgres._conn import Pool, Session

__all__ = ["ReadsMixin"]

_number = operator.attrgetter("_number")
"""A trial's number, read without the property (a study of a million trials is sorted)."""


class ReadsMixin:
    """Trial reads and heartbeats of :class:`~osk_postgres._core.AsyncCore`."""

    cache: Cache
    pool: Pool

    def cached_trial(self, trial_id: int) -> FrozenTrial | None:
        """The trial when this process runs it or has it finished in cache (shared: cached
        trials are never changed in place, see ``Cache.lookup``)."""
        return self.cache.lookup(trial_id)

    async def get_trial(self, trial_id: int) -> FrozenTrial:
        found = self.cache.lookup(trial_id)
        if found is not None:
            return found
        rows = await self.pool.run(lambda s, a: s.fetch(_sql.TRIAL_BY_ID, trial_id))
        study_ids: dict[int, int] = {}
        trials = _rows.trials_from_rows(rows, study_ids)
        if not trials:
            raise KeyError(f"No trial with trial_id {trial_id} exists.")
        trial = trials[0]
        if trial.state.is_finished():
            self.cache.remember(study_ids[trial_id], trial)
        return trial

    async def get_trial_id_from_study_id_trial_number(
        self, study_id: int, trial_number: int
    ) -> int:
        found = await self.pool.run(
            lambda s, a: s.fetchval(_sql.TRIAL_ID_BY_NUMBER, study_id, trial_number)
        )
        if found is None:
            raise KeyError(
                f"No trial with trial number {trial_number} exists in study with study_id "
                f"{study_id}."
            )
        return int(found)

    async def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        if states is not None and not any(
            s in states for s in TrialState if s != TrialState.WAITING
        ):
            trials = await self._waiting_trials(study_id, states)
        else:
            trials = await self._refresh(study_id)
            if states is not None:
                trials = [t for t in trials if t.state in states]
        return copy_trials(trials) if deepcopy else trials

    async def _waiting_trials(self, study_id: int, states: Container[TrialState]) -> list[Any]:
        """Enqueued trials, scanning only ids above the study's known WAITING floor."""
        if TrialState.WAITING not in states:
            await self._check_study(study_id)
            return []
        floor = self.cache.study(study_id).waiting_floor

        async def op(s: Session, attempt: int) -> list[Any]:
            ids = [r["trial_id"] for r in await s.fetch(_sql.WAITING_IDS, study_id, floor)]
            if not ids:
                return []
            return list(await s.fetch(_sql.TRIALS_BY_IDS, ids))

        rows = await self.pool.run(op)
        # By trial id, as enqueued; some may have been claimed meanwhile.
        waiting = [t for t in _rows.trials_from_rows(rows) if t.state == TrialState.WAITING]
        if not waiting:
            await self._check_study(study_id)
        return waiting

    async def _check_study(self, study_id: int) -> None:
        sc = self.cache.studies.get(study_id)
        if sc is not None and sc.directions is not None:
            return
        await self.get_study_directions(study_id)  # type: ignore[attr-defined]

    async def _refresh(self, study_id: int) -> list[FrozenTrial]:
        """All trials of the study: new and still-unfinished ones from the server, the rest
        from the cache. Trial ids commit in increasing order within a study (see ``_sql``)."""
        sc = self.cache.study(study_id)
        with self.cache.lock:
            since = sc.max_seen
            unfinished = list(sc.others)
            mine = [t for t, o in self.cache.owned.items() if o.study_id == study_id]
            known = [t for t in (*sc.finished, *mine) if t > since]

        async def op(s: Session, attempt: int) -> list[Any]:
            # asyncpg builds one record per row: millions for a large study's first read,
            # which the cyclic collector would traverse again and again while they arrive.
            with gc_paused():
                return await s.fetch(_sql.TRIALS_SINCE, study_id, since, unfinished, known)

        rows = await self.pool.run(op)
        with self.cache.lock:
            # Known trials are committed, and ids commit in order within a study: everything
            # up to the largest known or returned id has now been seen.
            sc.max_seen = max([sc.max_seen, *known])
            returned = set()
            with gc_paused():  # a large study's first read builds millions of objects
                for trial in _rows.trials_from_rows(rows):
                    returned.add(trial._trial_id)
                    if trial._trial_id not in self.cache.owned:
                        self.cache.file(sc, trial)
            sc.max_seen = max(sc.max_seen, max(returned, default=0))
            for trial_id in set(unfinished) - returned:
                sc.others.pop(trial_id, None)
            own = [o.trial for o in self.cache.owned.values() if o.study_id == study_id]
            trials = [*sc.finished.values(), *sc.others.values(), *own]
        if not trials:
            await self._check_study(study_id)
        trials.sort(key=_number)
        return trials

    # -- heartbeats ------------------------------------------------------------------------------
    async def record_heartbeat(self, trial_id: int) -> None:
        await self.pool.run(lambda s, a: s.execute(_sql.RECORD_HEARTBEAT, trial_id))

    async def get_stale_trial_ids(self, study_id: int, grace_period: float) -> list[int]:
        rows = await self.pool.run(
            lambda s, a: s.fetch(_sql.STALE_TRIALS, study_id, float(grace_period))
        )
        return [r["trial_id"] for r in rows]
