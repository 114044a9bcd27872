"""What a well-formed journal record looks like: its fields and their JSON types, per op code.

Replay (:mod:`osk_journal._state`, and Optuna's own) trusts each record's shape: a record with a
missing field or a field of the wrong type fails it, sometimes after part of it was applied.
:func:`problem` checks a record against what Optuna's replay reads from it, without applying
anything, so that ``osk journal recover`` can skip malformed records and replay the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from optuna.storages.journal._storage import JournalOperation as Op

from optuna_storage_kit.toolkit.distributions import json_to_distribution as parse_distribution
from optuna_storage_kit.toolkit.trials import FINISHED_VALUES as FINISHED
from osk_journal._state import RUNNING

__all__ = ["STUDY_OPS", "TRIAL_OPS", "problem"]

STUDY_OPS = frozenset({Op.DELETE_STUDY, Op.SET_STUDY_USER_ATTR, Op.SET_STUDY_SYSTEM_ATTR})
"""Op codes that refer to an existing study by ``study_id`` (``CREATE_TRIAL`` does too)."""
TRIAL_OPS = frozenset(
    {
        Op.SET_TRIAL_PARAM,
        Op.SET_TRIAL_STATE_VALUES,
        Op.SET_TRIAL_INTERMEDIATE_VALUE,
        Op.SET_TRIAL_USER_ATTR,
        Op.SET_TRIAL_SYSTEM_ATTR,
    }
)
"""Op codes that change an existing trial, named by ``trial_id``."""

_STATES = frozenset(range(5))  # TrialState values
_DIRECTIONS = frozenset(range(3))  # StudyDirection values

Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_id(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_one_entry(value: Any) -> bool:
    return type(value) is dict and len(value) == 1


def _is_time(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_distribution(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        parse_distribution(value)
    except Exception:  # json_to_distribution raises several types for bad input
        return False
    return True


def _is_directions(value: Any) -> bool:
    return type(value) is list and all(_is_int(d) and d in _DIRECTIONS for d in value)


def _is_values(value: Any) -> bool:
    return value is None or (type(value) is list and all(_is_number(v) for v in value))


def _is_state(value: Any) -> bool:
    return _is_int(value) and value in _STATES


_REQUIRED: dict[int, dict[str, Check]] = {
    Op.CREATE_STUDY: {"study_name": _is_str, "directions": _is_directions},
    Op.DELETE_STUDY: {"study_id": _is_id},
    Op.SET_STUDY_USER_ATTR: {"study_id": _is_id, "user_attr": _is_one_entry},
    Op.SET_STUDY_SYSTEM_ATTR: {"study_id": _is_id, "system_attr": _is_one_entry},
    Op.CREATE_TRIAL: {
        "study_id": _is_id,
        "datetime_start": lambda v: v is None or _is_time(v),
    },
    Op.SET_TRIAL_PARAM: {
        "trial_id": _is_id,
        "param_name": _is_str,
        "param_value_internal": _is_number,
        "distribution": _is_distribution,
    },
    Op.SET_TRIAL_STATE_VALUES: {"trial_id": _is_id, "state": _is_state, "values": _is_values},
    Op.SET_TRIAL_INTERMEDIATE_VALUE: {
        "trial_id": _is_id,
        "step": _is_int,
        "intermediate_value": _is_number,
    },
    Op.SET_TRIAL_USER_ATTR: {"trial_id": _is_id, "user_attr": _is_one_entry},
    Op.SET_TRIAL_SYSTEM_ATTR: {"trial_id": _is_id, "system_attr": _is_one_entry},
    Op.DISCARD_TRIALS: {},
}


def problem(record: Any) -> str | None:
    """Return why ``record`` is not a well-formed journal record, or ``None`` if it is."""
    if type(record) is not dict:
        return "not a journal record (not a JSON object)"
    code = record.get("op_code")
    required = _REQUIRED.get(code) if type(code) is int else None
    if required is None:
        return f"unknown op_code {code!r}"
    if not _is_str(record.get("worker_id")):
        return "no 'worker_id' string"
    for name, check in required.items():
        if name not in record:
            return f"op_code {code} without its '{name}' field"
        if not check(record[name]):
            return f"op_code {code} with a bad '{name}' field: {record[name]!r:.60}"
    if code == Op.SET_TRIAL_PARAM and not _converts(
        record["distribution"], record["param_value_internal"]
    ):
        return "op_code 5 with a value its distribution cannot hold"
    if code == Op.CREATE_TRIAL:
        return _template_problem(record)
    if code == Op.SET_TRIAL_STATE_VALUES:
        state = record["state"]
        if state == RUNNING and not _is_time(record.get("datetime_start")):
            return "op_code 6 (RUNNING) without a valid 'datetime_start'"
        if state in FINISHED and not _is_time(record.get("datetime_complete")):
            return "op_code 6 (finished) without a valid 'datetime_complete'"
    return None


def _template_problem(record: Mapping[str, Any]) -> str | None:
    """The optional fields of a ``CREATE_TRIAL`` record (a trial added from a template)."""
    optional: dict[str, Check] = {
        "state": _is_state,
        "datetime_complete": _is_time,
        "user_attrs": lambda v: type(v) is dict,
        "system_attrs": lambda v: type(v) is dict,
        "value": lambda v: v is None or _is_number(v),
        "values": _is_values,
        "distributions": lambda v: type(v) is dict and all(map(_is_distribution, v.values())),
        "params": lambda v: type(v) is dict and all(map(_is_number, v.values())),
        "intermediate_values": lambda v: type(v) is dict and all(map(_is_step, v.items())),
    }
    for name, check in optional.items():
        if name in record and not check(record[name]):
            return f"op_code 4 with a bad '{name}' field: {record[name]!r:.60}"
    params, distributions = record.get("params", {}), record.get("distributions", {})
    if set(params) - set(distributions):
        return "op_code 4 with a parameter that has no distribution"
    if not all(_converts(distributions[name], value) for name, value in params.items()):
        return "op_code 4 with a parameter value its distribution cannot hold"
    if record.get("value") is not None and record.get("values") is not None:
        return "op_code 4 with both 'value' and 'values'"
    return None


def _converts(distribution: str, value: Any) -> bool:
    """Whether Optuna's replay can turn ``value`` into a parameter of ``distribution``."""
    try:
        parse_distribution(distribution).to_external_repr(value)
    except Exception:  # IndexError, TypeError, ValueError, ... for a value that does not fit
        return False
    return True


def _is_step(item: tuple[str, Any]) -> bool:
    key, value = item
    try:
        int(key)
    except ValueError:
        return False
    return value is None or _is_number(value)
