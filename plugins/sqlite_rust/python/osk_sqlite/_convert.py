"""Conversions between the Rust core's records and Optuna's objects."""

from __future__ import annotations

import datetime
import json
import time
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import json_to_distribution

if TYPE_CHECKING:
    from osk_sqlite._native import _TrialRow

__all__ = ["from_db_time", "local_of", "now", "to_db_time", "trial_from_row"]

_UTC = datetime.timezone.utc


def now() -> tuple[int, datetime.datetime]:
    """The current time as (microseconds since the epoch, naive local datetime), exactly equal.

    The core stores the first as naive UTC text; the second is what RDBStorage returns for it.
    """
    micros = time.time_ns() // 1000
    return micros, local_of(micros)


def local_of(micros: int) -> datetime.datetime:
    """Microseconds since the epoch -> naive local datetime, exactly.

    ``micros / 1e6`` is within 0.24 us of the exact instant until 2106 (a double's spacing
    there is 0.48 us), and ``fromtimestamp`` rounds to the nearest microsecond: the exact one.
    A third of the cost of converting the seconds and then replacing the microseconds.
    """
    return datetime.datetime.fromtimestamp(micros / 1e6)


def _local(utc: datetime.datetime) -> datetime.datetime:
    """Naive UTC -> naive local time, as RDBStorage returns it (the slow, exact way)."""
    return utc.replace(tzinfo=_UTC).astimezone().replace(tzinfo=None)


_MINUTE = datetime.timedelta(minutes=1)
_offsets: dict[str, datetime.timedelta | None] = {}
"""Local-time offset of each UTC minute seen (``"2026-01-01 10:11"``), or ``None`` for a
minute in which the offset changes (a DST switch): those take the exact way."""


def from_db_time(text: str | None) -> datetime.datetime | None:
    """Naive UTC text as stored by RDBStorage -> naive local time, as RDBStorage returns.

    Exactly ``_local(fromisoformat(text))``, at a tenth of its cost: the time zone is looked
    up once per minute of UTC time (a million trials open without a million look-ups).
    """
    if text is None:
        return None
    utc = datetime.datetime.fromisoformat(text)
    if utc.tzinfo is not None:  # not written by RDBStorage or this backend: the exact way
        return _local(utc.replace(tzinfo=None))
    key = text[:16]
    try:
        offset = _offsets[key]
    except KeyError:
        start = utc.replace(second=0, microsecond=0)
        first, last = _local(start) - start, _local(start + _MINUTE) - (start + _MINUTE)
        offset = first if first == last else None
        if len(_offsets) >= 100_000:
            _offsets.clear()
        _offsets[key] = offset
    return _local(utc) if offset is None else utc + offset


def to_db_time(value: datetime.datetime | None) -> str | None:
    """A naive local (or aware) datetime -> naive UTC text, as RDBStorage stores it."""
    if value is None:
        return None
    return value.astimezone(_UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _attrs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {key: json.loads(text) for key, text in pairs}


def trial_from_row(row: _TrialRow) -> FrozenTrial:
    """Build a FrozenTrial from a trial as the core reads it (``NativeStore.sync``)."""
    trial_id, number, state, start, complete, values, params, steps, user, system = row
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
        user_attrs=_attrs(user) if user else {},
        system_attrs=_attrs(system) if system else {},
        intermediate_values=dict(steps),
        trial_id=trial_id,
    )
