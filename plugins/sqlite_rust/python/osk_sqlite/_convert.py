"""Conversions between the Rust core's records and Optuna's objects."""

from __future__ import annotations

import datetime
import json
import time
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import json_to_distribution

if TYPE_CHECKING:
    from osk_sqlite._native import TrialRecord

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


def trial_from_record(record: TrialRecord) -> FrozenTrial:
    """Build a FrozenTrial from the core's ``TrialRecord``."""
    params = record.params
    distributions = {name: json_to_distribution(text) for name, _, text in params}
    return FrozenTrial(
        number=record.number,
        state=TrialState[record.state],
        value=None,
        values=record.values or None,
        datetime_start=from_db_time(record.datetime_start),
        datetime_complete=from_db_time(record.datetime_complete),
        params={name: distributions[name].to_external_repr(v) for name, v, _ in params},
        distributions=distributions,
        user_attrs=_attrs(record.user_attrs),
        system_attrs=_attrs(record.system_attrs),
        intermediate_values=dict(record.intermediate_values),
        trial_id=record.trial_id,
    )
