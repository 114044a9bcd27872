"""Conversion between database rows (RDB schema) and Optuna objects."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.distributions import json_to_distribution
from optuna_storage_kit.toolkit.rdb_schema import decode_value

__all__ = ["attrs_from_json", "direction_names", "directions", "frozen_trial"]


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
            dist = json_to_distribution(dist_json)
            dists[name] = dist
            params[name] = dist.to_external_repr(float(value))
    values = None
    if row["vals"]:
        values = [decode_value(v, k) for _, v, k in json.loads(row["vals"])]
    inter = {}
    if row["inter"]:
        inter = {step: decode_value(v, k) for step, v, k in json.loads(row["inter"])}
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


def attrs_from_json(text: str | None) -> dict[str, Any]:
    """Decode a ``json_agg`` of ``[key, value_json]`` pairs."""
    return _attrs(text)


def directions(names: Iterable[str]) -> list[StudyDirection]:
    return [StudyDirection[name] for name in names]


def direction_names(dirs: Sequence[StudyDirection]) -> list[str]:
    return [StudyDirection(d).name for d in dirs]
