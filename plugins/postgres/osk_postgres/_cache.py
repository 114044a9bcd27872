"""What one storage object remembers: finished trials (immutable, cached forever), the trials
it runs itself (authoritative here, with writes not yet sent), and per-study read positions."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any, TypeVar

from optuna.distributions import BaseDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial

from optuna_storage_kit.toolkit.distributions import distribution_to_json
from optuna_storage_kit.toolkit.rdb_schema import encode_intermediate, encode_value
from optuna_storage_kit.toolkit.trials import FINISHED

__all__ = ["Batch", "Cache", "Owned", "StudyCache"]

_K = TypeVar("_K")
_V = TypeVar("_V")


def _put_under(mine: dict[_K, _V], theirs: dict[_K, _V]) -> None:
    """Add ``theirs`` to ``mine`` (in place), keeping ``mine``'s value for a key in both."""
    merged = {**theirs, **mine}
    mine.clear()
    mine.update(merged)


@dataclasses.dataclass
class Batch:
    """Writes for one trial that go to the server in one statement (``_sql.APPLY``)."""

    params: dict[str, tuple[float, str]] = dataclasses.field(default_factory=dict)
    values: list[float] | None = None
    inter: dict[int, float] = dataclasses.field(default_factory=dict)
    user: dict[str, str] = dataclasses.field(default_factory=dict)
    system: dict[str, str] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.params or self.values or self.inter or self.user or self.system)

    def merge(self, other: Batch) -> None:
        """Put ``other``'s writes under this batch's (this one is newer)."""
        _put_under(self.params, other.params)
        _put_under(self.inter, other.inter)
        _put_under(self.user, other.user)
        _put_under(self.system, other.system)
        if self.values is None:
            self.values = other.values

    def args(self) -> tuple[Any, ...]:
        """Bind arguments $6..$18 of ``_sql.APPLY``."""
        values = [encode_value(v) for v in self.values or ()]
        inter = [(s, *encode_intermediate(v)) for s, v in self.inter.items()]
        return (
            list(self.params),
            [v for v, _ in self.params.values()],
            [d for _, d in self.params.values()],
            list(range(len(values))),
            [v for v, _ in values],
            [k for _, k in values],
            [s for s, _, _ in inter],
            [v for _, v, _ in inter],
            [k for _, _, k in inter],
            list(self.user),
            list(self.user.values()),
            list(self.system),
            list(self.system.values()),
        )

    @classmethod
    def of_trial(cls, trial: FrozenTrial) -> Batch:
        """Everything a template trial carries."""
        batch = cls()
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            batch.params[name] = (dist.to_internal_repr(value), distribution_to_json(dist))
        if trial.values is not None:
            batch.values = list(trial.values)
        batch.inter = dict(trial.intermediate_values)
        batch.user = {k: json.dumps(v) for k, v in trial.user_attrs.items()}
        batch.system = {k: json.dumps(v) for k, v in trial.system_attrs.items()}
        return batch


@dataclasses.dataclass
class Owned:
    """A RUNNING trial this storage object created or claimed. ``trial`` is replaced, never
    changed in place (see :meth:`Cache.lookup`)."""

    study_id: int
    trial: FrozenTrial
    pending: Batch = dataclasses.field(default_factory=Batch)


@dataclasses.dataclass
class StudyCache:
    """Per-study state: finished trials, others' unfinished ones, read positions."""

    finished: dict[int, FrozenTrial] = dataclasses.field(default_factory=dict)
    others: dict[int, FrozenTrial] = dataclasses.field(default_factory=dict)
    max_seen: int = 0
    waiting_floor: int = 0
    dists: dict[str, BaseDistribution] = dataclasses.field(default_factory=dict)
    directions: list[StudyDirection] | None = None


class Cache:
    """All cached state, guarded by one lock (never held across an await)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.studies: dict[int, StudyCache] = {}
        self.owned: dict[int, Owned] = {}
        self.finished: dict[int, FrozenTrial] = {}

    def study(self, study_id: int) -> StudyCache:
        with self.lock:
            found = self.studies.get(study_id)
            if found is None:
                found = self.studies[study_id] = StudyCache()
            return found

    def drop_study(self, study_id: int) -> None:
        with self.lock:
            cached = self.studies.pop(study_id, None)
            if cached is not None:
                for trial_id in cached.finished:
                    self.finished.pop(trial_id, None)
            for trial_id in [t for t, o in self.owned.items() if o.study_id == study_id]:
                del self.owned[trial_id]

    def remember(self, study_id: int, trial: FrozenTrial) -> None:
        """:meth:`file` a trial of a study, taking the lock."""
        with self.lock:
            self.file(self.study(study_id), trial)

    def file(self, sc: StudyCache, trial: FrozenTrial) -> None:
        """Keep a trial read from the server in its study's cache: finished trials for good,
        others' unfinished ones until the next read. The caller holds :attr:`lock` (a large
        study's first read files a million trials: no lock or study look-up per trial)."""
        trial_id = trial._trial_id
        if trial.state in FINISHED:
            sc.finished[trial_id] = self.finished[trial_id] = trial
            sc.others.pop(trial_id, None)
        else:
            sc.others[trial_id] = trial
        for name, dist in trial.distributions.items():
            sc.dists.setdefault(name, dist)

    def lookup(self, trial_id: int) -> FrozenTrial | None:
        """The trial if it is owned or finished and cached, else None.

        Shared, not copied: cached trials are never changed in place. A write to an owned
        trial replaces :attr:`Owned.trial` with a new object whose changed containers are new
        (copy on write, as Optuna's ``InMemoryStorage`` does), so an object handed out stays
        as it was, and Optuna's ``Trial``, which updates its own record's dicts after each
        write, changes only containers the cache no longer holds.
        """
        with self.lock:
            owned = self.owned.get(trial_id)
            if owned is not None:
                return owned.trial
            return self.finished.get(trial_id)
