"""The one serialization policy: accepted values round-trip, the rest raise with their path."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import optuna_storage_kit as osk
from optuna_storage_kit import SerializationError, check_attr, normalize_value

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    """Equality that treats nan as equal to nan and distinguishes 1 from 1.0 and True."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and _types(a) == _types(
        b
    )


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@given(json_values)
def test_accepted_values_come_back_as_json_returns_them(value: Any) -> None:
    normalized = normalize_value(value)
    assert same(normalized, json.loads(json.dumps(value)))
    # and normalising is idempotent: what a backend gives back is accepted unchanged
    assert same(normalize_value(normalized), normalized)


@given(json_values)
def test_accepted_values_round_trip_through_a_storage(value: Any) -> None:
    storage = osk.open_storage("optuna+memory://")
    study_id = storage.create_new_study([])
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_user_attr(trial_id, "k", value)
    storage.set_study_system_attr(study_id, "k", value)
    expected = json.loads(json.dumps(value))
    assert same(storage.get_trial_user_attrs(trial_id)["k"], expected)
    assert same(storage.get_study_system_attrs(study_id)["k"], expected)


class Color(enum.Enum):
    RED = 1


BAD_VALUES: list[tuple[object, str, str]] = [
    (np.array([1, 2]), "numpy.ndarray", ".tolist()"),
    (np.int64(3), "numpy.int64", ".item()"),
    (np.float32(1.5), "numpy.float32", ".item()"),
    (np.bool_(True), "numpy.bool", ".item()"),
    (datetime.datetime(2026, 1, 1), "datetime.datetime", ".isoformat()"),
    (datetime.date(2026, 1, 1), "datetime.date", ".isoformat()"),
    (datetime.timedelta(seconds=3), "datetime.timedelta", ".total_seconds()"),
    ({1, 2}, "set", "sorted(...)"),
    (frozenset(), "frozenset", "sorted(...)"),
    (b"bytes", "bytes", ".decode()"),
    (bytearray(b"x"), "bytearray", ".decode()"),
    (decimal.Decimal("1.5"), "decimal.Decimal", "float(...)"),
    (Color.RED, "Color", ".value"),
    (object(), "object", "str(...)"),
    (1 + 2j, "complex", "str(...)"),
]


@pytest.mark.parametrize(("value", "type_name", "fix"), BAD_VALUES, ids=lambda v: repr(v)[:20])
def test_rejected_values_name_type_path_and_fix(value: object, type_name: str, fix: str) -> None:
    with pytest.raises(SerializationError) as info:
        check_attr("metrics", {"scores": [0.5, value]}, what="user attribute 'metrics'")
    error = info.value
    assert isinstance(error, ValueError)
    assert error.path == "metrics['scores'][1]"
    assert error.type_name.split(".")[-1] == type_name.split(".")[-1]
    message = str(error)
    assert "user attribute 'metrics'" in message and "metrics['scores'][1]" in message
    assert fix in message


def test_non_str_dict_key() -> None:
    with pytest.raises(SerializationError) as info:
        check_attr("params", {"a": {1: "x"}}, what="attr")
    assert info.value.path == "params['a'][1]"
    assert "str(...)" in str(info.value) and "int" in str(info.value)


def test_non_str_attribute_key() -> None:
    with pytest.raises(SerializationError, match="keys must be str"):
        check_attr(3, 1, what="attr")


def test_deep_nesting_and_cycles() -> None:
    value: Any = 0
    for _ in range(osk.MAX_DEPTH):
        value = [value]
    assert normalize_value(value) == value
    with pytest.raises(SerializationError, match=f"more than {osk.MAX_DEPTH} levels"):
        normalize_value([value])
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(SerializationError, match="refers to itself"):
        normalize_value(cycle)


def test_normalisation_matches_json() -> None:
    got = normalize_value({"t": (1, (2, 3)), "f": np.float64(0.25), "nan": math.nan})
    assert got["t"] == [1, [2, 3]] and type(got["f"]) is float and math.isnan(got["nan"])
    huge = "x" * 5_000_000
    assert normalize_value(huge) is huge


def test_int_and_str_subclasses_are_rejected() -> None:
    class Level(int):
        pass

    with pytest.raises(SerializationError, match=r"int\(\.\.\.\)"):
        normalize_value(Level(3))


bad_leaves = st.sampled_from(
    [
        np.int64(1),
        np.array([1.0]),
        datetime.datetime(2020, 1, 1),
        {1},
        b"x",
        object(),
        np.bool_(False),
    ]
)
steps = st.lists(st.one_of(st.text(max_size=5), st.integers(0, 3)), max_size=6)


@given(steps, bad_leaves, json_values)
def test_rejected_anywhere_raises_with_its_exact_path(
    path: list[str | int], bad: object, filler: Any
) -> None:
    value: Any = bad
    expected = ""
    for step in reversed(path):
        if isinstance(step, str):
            value = {step: value}
            expected = f"[{step!r}]" + expected
        else:
            value = [filler] * step + [value]
            expected = f"[{step}]" + expected
    with pytest.raises(SerializationError) as info:
        check_attr("root", value, what="attr")
    assert info.value.path == "root" + expected


@given(bad_leaves)
def test_nothing_is_written_when_a_value_is_rejected(bad: object) -> None:
    storage = osk.open_storage("optuna+memory://")
    study_id = storage.create_new_study([])
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_user_attr(trial_id, "k", "before")
    storage.set_study_user_attr(study_id, "k", "before")
    for setter, target in (
        (storage.set_trial_user_attr, trial_id),
        (storage.set_trial_system_attr, trial_id),
        (storage.set_study_user_attr, study_id),
        (storage.set_study_system_attr, study_id),
    ):
        with pytest.raises(SerializationError):
            setter(target, "k", {"ok": 1, "bad": [bad]})
    assert storage.get_trial(trial_id).user_attrs == {"k": "before"}
    assert storage.get_trial(trial_id).system_attrs == {}
    assert storage.get_study_user_attrs(study_id) == {"k": "before"}
    assert storage.get_study_system_attrs(study_id) == {}


def test_template_trial_attributes_are_checked_before_creation() -> None:
    import optuna

    storage = osk.open_storage("optuna+memory://")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    template = optuna.trial.create_trial(value=1.0, user_attrs={"a": np.int64(1)})
    with pytest.raises(SerializationError, match="a new trial in study 0"):
        storage.create_new_trial(study_id, template)
    assert storage.get_all_trials(study_id) == []
    template = optuna.trial.create_trial(value=1.0, user_attrs={"a": (1, 2)})
    trial_id = storage.create_new_trial(study_id, template)
    assert storage.get_trial(trial_id).user_attrs == {"a": [1, 2]}
    assert template.user_attrs == {"a": (1, 2)}  # the caller's object is left alone


def test_stored_values_do_not_alias_the_callers_objects() -> None:
    storage = osk.open_storage("optuna+memory://")
    study_id = storage.create_new_study([])
    trial_id = storage.create_new_trial(study_id)
    mine = {"xs": [1, 2]}
    storage.set_trial_user_attr(trial_id, "k", mine)
    mine["xs"].append(3)
    assert storage.get_trial(trial_id).user_attrs["k"] == {"xs": [1, 2]}
