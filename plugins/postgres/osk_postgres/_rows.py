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

__all__ = [
    "attrs_from_json",
    "direction_names",
    "directions",
    "trials_from_rows",
]


def _attrs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    return {key: json.loads(value) for key, value in json.loads(text)}


_TRIAL, _PARAM, _VALUE, _STEP, _USER, _SYSTEM = range(6)


def trials_from_rows(
    rows: list[Any], study_ids: dict[int, int] | None = None
) -> list[FrozenTrial]:
    """Build the trials of ``_sql._trial_rows``-shaped rows, sorted by trial id; ``rows`` is
    emptied as it is read (a large study's rows are freed while its trials are built).

    Args:
        rows: The statement's rows.
        study_ids: If given, filled with each trial's study id, by trial id.
    """
    base: dict[int, tuple[Any, ...]] = {}
    parts: dict[int, list[tuple[Any, ...]]] = {}
    rows.reverse()
    while rows:
        kind, trial_id, k, name, num, txt, start, complete, study_id = rows.pop()
        if kind == _TRIAL:
            base[trial_id] = (k, name, start, complete)
            if study_ids is not None:
                study_ids[trial_id] = study_id
        else:
            parts.setdefault(trial_id, []).append((kind, k, name, num, txt))
    trials = []
    for trial_id in sorted(base):
        number, state, start, complete = base[trial_id]
        params: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        values: list[float] = []
        inter: dict[int, float] = {}
        user: dict[str, Any] = {}
        system: dict[str, Any] = {}
        # (kind, k) is unique within a trial: the sort is by kind, then insertion order,
        # objective or step, as RDBStorage orders them.
        for kind, k, name, num, txt in sorted(parts.get(trial_id, ())):
            if kind == _PARAM:
                dist = dists[name] = json_to_distribution(txt)
                params[name] = dist.to_external_repr(num)
            elif kind == _VALUE:
                values.append(decode_value(num, txt))
            elif kind == _STEP:
                inter[k] = decode_value(num, txt)
            elif kind == _USER:
                user[name] = json.loads(txt)
            else:
                system[name] = json.loads(txt)
        trials.append(
            FrozenTrial(
                number=number,
                state=TrialState[state],
                value=None,
                values=values or None,
                datetime_start=start,
                datetime_complete=complete,
                params=params,
                distributions=dists,
                user_attrs=user,
                system_attrs=system,
                intermediate_values=inter,
                trial_id=trial_id,
            )
        )
    return trials


def attrs_from_json(text: str | None) -> dict[str, Any]:
    """Decode a ``json_agg`` of ``[key, value_json]`` pairs."""
    return _attrs(text)


def directions(names: Iterable[str]) -> list[StudyDirection]:
    return [StudyDirection[name] for name in names]


def direction_names(dirs: Sequence[StudyDirection]) -> list[str]:
    return [StudyDirection(d).name for d in dirs]
