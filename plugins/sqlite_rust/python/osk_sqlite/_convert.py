"""Conversions between the Rust core's records and Optuna's objects."""

from __future__ import annotations

import datetime
import json
import time
from typing import TYPE_CHECKING, Any

from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from osk_sqlite._native import TrialRecord

__all__ = ["Distributions", "from_db_time", "now", "to_db_time", "trial_from_record"]

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


class Distributions:
    """Parses (and dumps) distribution JSON once per distinct distribution."""

    def __init__(self) -> None:
        self._parsed: dict[str, BaseDistribution] = {}
        self._dumped: dict[tuple[Any, ...], str] = {}

    def parse(self, text: str) -> BaseDistribution:
        dist = self._parsed.get(text)
        if dist is None:
            dist = self._parsed[text] = json_to_distribution(text)
        return dist

    def dump(self, dist: BaseDistribution) -> str:
        # Keyed by class and attributes in their order: the same as the distribution's own
        # hash and equality, without the sort that makes those cost a third of a param write.
        try:
            key = (dist.__class__, *dist.__dict__.items())
            text = self._dumped.get(key)
        except TypeError:  # an unhashable custom distribution
            return distribution_to_json(dist)
        if text is None:
            text = distribution_to_json(dist)
            if len(self._dumped) < 10_000:
                self._dumped[key] = text
        return text


def _attrs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {key: json.loads(text) for key, text in pairs}


def trial_from_record(record: TrialRecord, dists: Distributions) -> FrozenTrial:
    """Build a FrozenTrial from the core's ``TrialRecord``."""
    params = record.params
    distributions = {name: dists.parse(text) for name, _, text in params}
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
