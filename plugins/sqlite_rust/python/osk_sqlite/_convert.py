"""Conversions between the Rust core's plain tuples and Optuna's objects."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import json_to_distribution

__all__ = ["from_db_time", "now", "to_db_time", "trial_from_record"]

_UTC = datetime.timezone.utc


def now() -> tuple[int, datetime.datetime]:
    """The current time as (microseconds since the epoch, naive local datetime), exactly equal.

    The core stores the first as naive UTC text; the second is what RDBStorage returns for it.
    """
    micros = time.time_ns() // 1000
    local = datetime.datetime.fromtimestamp(micros // 1_000_000)
    return micros, local.replace(microsecond=micros % 1_000_000)


def from_db_time(text: str | None) -> datetime.datetime | None:
    """Naive UTC text as stored by RDBStorage -> naive local time, as RDBStorage returns."""
    if text is None:
        return None
    return (
        datetime.datetime.fromisoformat(text)
        .replace(tzinfo=_UTC)
        .astimezone()
        .replace(tzinfo=None)
    )


def to_db_time(value: datetime.datetime | None) -> str | None:
    """A naive local (or aware) datetime -> naive UTC text, as RDBStorage stores it."""
    if value is None:
        return None
    return value.astimezone(_UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _attrs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {key: json.loads(text) for key, text in pairs}


def trial_from_record(record: tuple[Any, ...]) -> FrozenTrial:
    """Build a FrozenTrial from the core's ``TrialRecord`` tuple."""
    (trial_id, number, state, start, complete, values, params, inter, user, system) = record
    distributions = {name: json_to_distribution(text) for name, _, text in params}
    return FrozenTrial(
        number=number,
        state=TrialState[state],
        value=None,
        values=values or None,
        datetime_start=from_db_time(start),
        datetime_complete=from_db_time(complete),
        params={name: distributions[name].to_external_repr(v) for name, v, _ in params},
        distributions=distributions,
        user_attrs=_attrs(user),
        system_attrs=_attrs(system),
        intermediate_values=dict(inter),
        trial_id=trial_id,
    )
