"""Conversion between database rows (RDB schema) and Optuna objects."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "distribution",
    "encode_intermediate",
    "encode_value",
    "frozen_trial",
    "new_frozen_trial",
]


@functools.lru_cache(maxsize=4096)
def distribution(text: str) -> BaseDistribution:
    """Parse a distribution's JSON, once per distinct text (distributions are immutable)."""
    return json_to_distribution(text)


def encode_value(value: float) -> tuple[float | None, str]:
    """A trial value as (value, value_type), as RDBStorage stores it."""
    if math.isinf(value):
        return None, "INF_POS" if value > 0 else "INF_NEG"
    return value, "FINITE"


def encode_intermediate(value: float) -> tuple[float | None, str]:
    """An intermediate value as (value, type), as RDBStorage stores it."""
    if math.isnan(value):
        return None, "NAN"
    if math.isinf(value):
        return None, "INF_POS" if value > 0 else "INF_NEG"
    return value, "FINITE"


def _decode(value: Any, kind: str) -> float:
    if kind == "INF_POS":
        return math.inf
    if kind == "INF_NEG":
        return -math.inf
    if kind == "NAN":
        return math.nan
    return float(value)


def _attrs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    return {key: json.loads(value) for key, value in json.loads(text)}


def frozen_trial(row: Any) -> FrozenTrial:
    """Build a FrozenTrial from one row of ``_sql.TRIAL_BY_ID``-shaped queries."""
    params: dict[str, Any] = {}
    dists: dict[str, BaseDistribution] = {}
    if row["params"]:
        for name, value, dist_json in json.loads(row["params"]):
            dist = distribution(dist_json)
            dists[name] = dist
            params[name] = dist.to_external_repr(float(value))
    values = None
    if row["vals"]:
        values = [_decode(v, k) for _, v, k in json.loads(row["vals"])]
    inter = {}
    if row["inter"]:
        inter = {step: _decode(v, k) for step, v, k in json.loads(row["inter"])}
    return FrozenTrial(
        number=row["number"],
        state=TrialState[row["state"]],
        value=None,
        values=values,
        datetime_start=row["datetime_start"],
        datetime_complete=row["datetime_complete"],
        params=params,
        distributions=dists,
        user_attrs=_attrs(row["user_attrs"]),
        system_attrs=_attrs(row["system_attrs"]),
        intermediate_values=inter,
        trial_id=row["trial_id"],
    )


def new_frozen_trial(trial_id: int, number: int, state: TrialState, start: Any) -> FrozenTrial:
    """An empty trial as just created."""
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=None,
        datetime_start=start,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


def attrs_from_json(text: str | None) -> dict[str, Any]:
    """Decode a ``json_agg`` of ``[key, value_json]`` pairs."""
    return _attrs(text)


def directions(names: Iterable[str]) -> list[StudyDirection]:
    return [StudyDirection[name] for name in names]


def direction_names(dirs: Sequence[StudyDirection]) -> list[str]:
    return [StudyDirection(d).name for d in dirs]
