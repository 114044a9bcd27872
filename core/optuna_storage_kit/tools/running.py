"""RUNNING trials: how long they have run, their last heartbeat, and failing the stale ones.

A trial whose process died stays RUNNING for ever unless a heartbeat catches it, and many
stores have no heartbeats. ``osk info`` lists RUNNING trials with :func:`running_trials`;
``osk fail-trials`` marks chosen ones FAIL with Optuna's public
``storage.set_trial_state_values(trial_id, TrialState.FAIL)``, as Optuna's own heartbeat does.

Times: ``datetime_start`` is the writer's local time (Optuna's ``datetime.now()``); a
heartbeat's age is computed by the database that stored it (its ``CURRENT_TIMESTAMP``), so no
two clocks are mixed.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.errors import StorageKitError

__all__ = [
    "FailOutcome",
    "RunningTrial",
    "fail_trials",
    "format_age",
    "parse_duration",
    "running_trials",
    "select_trials",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smhdw])")

HEARTBEATS_NONE = "none"
"""The storage keeps no heartbeats."""
HEARTBEATS_READ = "read"
"""The storage keeps heartbeats and osk read them."""
HEARTBEATS_UNREADABLE = "unreadable"
"""The storage may keep heartbeats, but offers no way to read them."""


@dataclasses.dataclass(frozen=True)
class RunningTrial:
    """A RUNNING trial as inspection sees it.

    Attributes:
        study: The study's name.
        number: The trial's number in its study.
        trial_id: The storage's id of the trial.
        started: When it started (the writer's local time), if known.
        heartbeats: :data:`HEARTBEATS_NONE`, :data:`HEARTBEATS_READ` or
            :data:`HEARTBEATS_UNREADABLE`.
        heartbeat_age: How long ago its last heartbeat was; ``None`` if it has none (or
            they cannot be read).
    """

    study: str
    number: int
    trial_id: int
    started: datetime.datetime | None
    heartbeats: str
    heartbeat_age: datetime.timedelta | None

    def running_for(self, now: datetime.datetime) -> datetime.timedelta | None:
        """How long it has been RUNNING at ``now`` (local time)."""
        return None if self.started is None else max(now - self.started, datetime.timedelta())

    def quiet_for(self, now: datetime.datetime) -> datetime.timedelta | None:
        """Time since its last sign of life: its last heartbeat, else its start."""
        if self.heartbeat_age is not None:
            return self.heartbeat_age
        return self.running_for(now)

    def last_heartbeat(self) -> str:
        """The last heartbeat for a table cell."""
        if self.heartbeats == HEARTBEATS_NONE:
            return "no heartbeat"
        if self.heartbeats == HEARTBEATS_UNREADABLE:
            return "unknown (not readable here)"
        if self.heartbeat_age is None:
            return "no heartbeat"
        return f"{format_age(self.heartbeat_age)} ago"


@dataclasses.dataclass(frozen=True)
class FailOutcome:
    """What ``osk fail-trials`` did to one trial: ``failed`` or why it was left as is."""

    trial: RunningTrial
    failed: bool
    note: str


def running_trials(storage: BaseStorage, study_id: int, study_name: str) -> list[RunningTrial]:
    """The study's RUNNING trials, oldest first, with their heartbeats where readable."""
    trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    kind, ages = _heartbeat_ages(storage, [t._trial_id for t in trials])
    return [_running(study_name, t, kind, ages) for t in sorted(trials, key=lambda t: t.number)]


def _running(
    study: str, trial: FrozenTrial, kind: str, ages: dict[int, datetime.timedelta]
) -> RunningTrial:
    return RunningTrial(
        study, trial.number, trial._trial_id, trial.datetime_start, kind, ages.get(trial._trial_id)
    )


def select_trials(
    storage: BaseStorage,
    study_name: str,
    *,
    numbers: Sequence[int],
    older_than: datetime.timedelta | None,
    now: datetime.datetime,
) -> list[RunningTrial]:
    """The RUNNING trials of ``study_name`` chosen by number or by quiet time, checked first.

    Args:
        storage: The storage.
        study_name: The study.
        numbers: Trial numbers to choose; each must be RUNNING.
        older_than: Also choose every RUNNING trial quiet (no heartbeat, or no start if it
            has no heartbeat) for longer than this.
        now: The current local time.

    Raises:
        StorageKitError: The study does not exist, or a chosen number is missing or not
            RUNNING (nothing is changed then).
    """
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        names = ", ".join(repr(s.study_name) for s in storage.get_all_studies()) or "none"
        raise StorageKitError(f"no study named {study_name!r}; the studies are: {names}") from None
    running = {t.number: t for t in running_trials(storage, study_id, study_name)}
    states = {t.number: t.state for t in storage.get_all_trials(study_id, deepcopy=False)}
    for number in numbers:
        if number not in states:
            raise StorageKitError(
                f"study {study_name!r} has no trial number {number} (it has {len(states)} "
                "trials); nothing was changed"
            )
        if number not in running:
            raise StorageKitError(
                f"trial {number} of study {study_name!r} is {states[number].name}, not RUNNING; "
                "only RUNNING trials can be failed. Nothing was changed"
            )
    chosen = {n: running[n] for n in numbers}
    if older_than is not None:
        for trial in running.values():
            quiet = trial.quiet_for(now)
            if quiet is not None and quiet > older_than:
                chosen.setdefault(trial.number, trial)
    return [chosen[n] for n in sorted(chosen)]


def fail_trials(storage: BaseStorage, trials: Iterable[RunningTrial]) -> list[FailOutcome]:
    """Set each trial's state to FAIL; a trial that finished meanwhile is left as it is."""
    outcomes = []
    for trial in trials:
        try:
            storage.set_trial_state_values(trial.trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            state = storage.get_trial(trial.trial_id).state.name
            outcomes.append(FailOutcome(trial, False, f"finished meanwhile ({state}); left as is"))
            continue
        outcomes.append(FailOutcome(trial, True, "failed"))
    return outcomes


# -- heartbeats --------------------------------------------------------------------------------
def _heartbeat_ages(
    storage: BaseStorage, trial_ids: list[int]
) -> tuple[str, dict[int, datetime.timedelta]]:
    from optuna.storages import RDBStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    from optuna_storage_kit.runtime.kit_storage import KitStorage

    if isinstance(storage, RDBStorage):
        return HEARTBEATS_READ, _rdb_heartbeat_ages(storage, trial_ids) if trial_ids else {}
    if isinstance(storage, KitStorage):
        kind = HEARTBEATS_UNREADABLE if storage.capabilities.heartbeat else HEARTBEATS_NONE
        return kind, {}
    return (HEARTBEATS_UNREADABLE if isinstance(storage, BaseHeartbeat) else HEARTBEATS_NONE), {}


def _rdb_heartbeat_ages(storage: Any, trial_ids: list[int]) -> dict[int, datetime.timedelta]:
    """Ages of the last heartbeats in Optuna's ``trial_heartbeats`` table, by trial id."""
    import sqlalchemy as sa

    table = sa.table(
        "trial_heartbeats", sa.column("trial_id", sa.Integer), sa.column("heartbeat", sa.DateTime)
    )
    now = sa.func.current_timestamp().label("now")
    query = sa.select(table.c.trial_id, table.c.heartbeat, now).where(
        table.c.trial_id.in_(trial_ids)
    )
    with storage.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {trial_id: _age(beat, at) for trial_id, beat, at in rows}


def _age(beat: datetime.datetime, now: datetime.datetime) -> datetime.timedelta:
    if (beat.tzinfo is None) != (now.tzinfo is None):
        beat, now = beat.replace(tzinfo=None), now.replace(tzinfo=None)
    return max(now - beat, datetime.timedelta())


# -- durations ---------------------------------------------------------------------------------
def parse_duration(text: str) -> datetime.timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"1w"``, or a sum such as ``"1h30m"``.

    Raises:
        ValueError: ``text`` is not such a duration.
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit (s, m, h, d, w), e.g. "
            "90s, 30m, 2h, 1d or 1h30m"
        )
    return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def format_age(age: datetime.timedelta) -> str:
    """A short duration: ``"45s"``, ``"12m 05s"``, ``"3h 04m"``, ``"2d 05h"``."""
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
