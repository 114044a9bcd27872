"""Category 4, serialization strictness: every value round-trips exactly or is refused.

Each value of the table is written as a trial/study user/system attribute and as a template
trial's attribute. The candidate must do exactly what the reference does: give back the same
value (same types), or raise ``SerializationError`` naming the key while leaving what was
stored before unchanged.
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk
from osk_conformance._target import Target
from osk_conformance._trials import canonical, trial_view


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


VALUES: dict[str, Callable[[], Any]] = {
    "numpy-array": lambda: np.arange(3),
    "numpy-int64": lambda: np.int64(3),
    "numpy-float64": lambda: np.float64(1.5),
    "numpy-float32": lambda: np.float32(1.5),
    "numpy-bool": lambda: np.bool_(True),
    "datetime": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5),
    "set": lambda: {1, 2},
    "bytes": lambda: b"raw",
    "object": lambda: object(),
    "nested-bad": lambda: {"a": [1, {"b": np.int64(1)}]},
    "non-str-key": lambda: {1: "one"},
    "nested-non-str-key": lambda: {"a": {(1, 2): "x"}},
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "-inf": lambda: -math.inf,
    "-0.0": lambda: -0.0,
    "huge-int": lambda: 2**80,
    "bool": lambda: True,
    "none": lambda: None,
    "tuple": lambda: (1, "a", [2.5]),
    "unicode": lambda: "ünïcödé 🧪 \x00 \\ '\"",
    "huge-string": lambda: "x" * (4 * 1024 * 1024),
    "deep-ok": lambda: _deep(osk.MAX_DEPTH),
    "deep-too-deep": lambda: _deep(osk.MAX_DEPTH + 1),
    "mixed-nesting": lambda: {"a": [{"b": [None, 1.0, {"c": []}]}], "d": {}},
}

KINDS = ["trial-user", "trial-system", "study-user", "study-system", "template"]
KEY = "kit·key"


def _write(storage: BaseStorage, kind: str, key: Any, value: Any) -> Callable[[], Any]:
    """Write ``key=value`` as an attribute of ``kind``; return a reader of the whole record."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], f"osk-{uuid.uuid4().hex}")
    if kind.startswith("study"):
        getter = {
            "study-user": storage.get_study_user_attrs,
            "study-system": storage.get_study_system_attrs,
        }[kind]
        setter = {
            "study-user": storage.set_study_user_attr,
            "study-system": storage.set_study_system_attr,
        }[kind]
        setter(study_id, KEY, "before")
        setter(study_id, key, value)
        return lambda: canonical(getter(study_id))
    if kind == "template":
        template = FrozenTrial(
            number=-1,
            state=TrialState.COMPLETE,
            value=1.0,
            datetime_start=None,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={key: value},
            system_attrs={},
            intermediate_values={},
            trial_id=-1,
        )
        storage.create_new_trial(study_id, template)
        trials = storage.get_all_trials(study_id)
        return lambda: [(canonical(t.user_attrs), canonical(t.system_attrs)) for t in trials]
    trial_id = storage.create_new_trial(study_id)
    set_trial: Callable[[int, str, Any], None] = {
        "trial-user": storage.set_trial_user_attr,
        "trial-system": storage.set_trial_system_attr,
    }[kind]
    set_trial(trial_id, KEY, "before")
    set_trial(trial_id, key, value)
    return lambda: trial_view(storage.get_trial(trial_id))


def _observe(storage: BaseStorage, kind: str, key: Any, value: Any) -> tuple[str, Any, Any]:
    """``("stored", record)`` or ``("refused", path, record-after)`` for one write."""
    study_id_before = {s._study_id for s in storage.get_all_studies()}
    try:
        read = _write(storage, kind, key, value)
    except osk.SerializationError as err:
        return ("refused", err, _state_after(storage, study_id_before))
    except Exception as err:
        return ("crashed", f"{type(err).__name__}: {err}", None)
    return ("stored", read(), None)


def _state_after(storage: BaseStorage, before: set[int]) -> Any:
    """Everything stored in the study the failed write went to (it was created by _write)."""
    new = [s for s in storage.get_all_studies() if s._study_id not in before]
    assert len(new) == 1
    study = new[0]
    return (
        canonical(study.user_attrs),
        canonical(study.system_attrs),
        [trial_view(t) for t in storage.get_all_trials(study._study_id)],
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(VALUES))
def test_value_matches_reference(
    osk_storage: BaseStorage, osk_reference: Target, osk_dir: Any, name: str, kind: str
) -> None:
    reference = _observe(osk_reference.open(osk_dir / "reference"), kind, KEY, VALUES[name]())
    got = _observe(osk_storage, kind, KEY, VALUES[name]())
    assert got[0] != "crashed", f"{name} as {kind}: raised {got[1]} instead of SerializationError"
    assert got[0] == reference[0], (
        f"{name} as {kind}: the reference {reference[0]} it, the backend {got[0]} it"
    )
    if got[0] == "stored":
        assert got[1] == reference[1], f"{name} as {kind} came back different from the reference"
        return
    err = got[1]
    assert KEY in str(err) or KEY in err.path, f"the error does not name the key: {err}"
    assert err.path == reference[1].path
    assert got[2] == reference[2], f"{name} as {kind}: the stored record changed on refusal"


@pytest.mark.parametrize("kind", ["trial-user", "study-system"])
@pytest.mark.parametrize("key", [1, None, ("a",), b"k"], ids=["int", "none", "tuple", "bytes"])
def test_non_str_key_is_refused(osk_storage: BaseStorage, kind: str, key: Any) -> None:
    with pytest.raises(osk.SerializationError) as info:
        _write(osk_storage, kind, key, "value")
    assert repr(key) in str(info.value)
