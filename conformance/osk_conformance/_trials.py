"""Helpers shared by the suite: observable views of trials and studies, error kinds."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial

import optuna_storage_kit as osk

__all__ = ["error_kind", "outcome", "same_value", "trial_view"]

_ERROR_KINDS: tuple[type[BaseException], ...] = (
    optuna.exceptions.DuplicatedStudyError,
    optuna.exceptions.UpdateFinishedTrialError,
    osk.SerializationError,
    KeyError,
    ValueError,
    RuntimeError,
)


def error_kind(err: BaseException) -> str:
    """The most specific of the error types Optuna's storage API promises, by name."""
    for kind in _ERROR_KINDS:
        if isinstance(err, kind):
            return kind.__name__
    return f"unexpected {type(err).__name__}"


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", kind)`` for ``call()``."""
    try:
        return ("ok", call())
    except Exception as err:
        return ("error", error_kind(err))


def canonical(value: Any, *, signed_zero: bool = True) -> Any:
    """A comparable form of a stored value: types kept, nan made equal to itself.

    Attribute values are JSON, which keeps the sign of ``-0.0``; trial and intermediate values
    are numbers in a database column, where ``-0.0 == 0.0`` is all that is asked
    (``signed_zero=False``).
    """
    if isinstance(value, float):
        if math.isnan(value):
            return ("float", "nan")
        return ("float", value, math.copysign(1.0, value) if signed_zero else 1.0)
    if isinstance(value, dict):
        items = ((k, canonical(v, signed_zero=signed_zero)) for k, v in value.items())
        return ("dict", tuple(sorted(items)))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canonical(v, signed_zero=signed_zero) for v in value))
    return (type(value).__name__, value)


def same_value(a: Any, b: Any) -> bool:
    """Equal as stored values: same types, nan equals nan, -0.0 differs from 0.0."""
    return bool(canonical(a) == canonical(b))


def trial_view(trial: FrozenTrial) -> tuple[Any, ...]:
    """What is observable of a trial apart from its backend-specific id and timestamps."""
    return (
        trial.number,
        trial.state.name,
        canonical(trial.values, signed_zero=False),
        canonical(dict(trial.params)),
        tuple(sorted((k, repr(d)) for k, d in trial.distributions.items())),
        canonical(dict(trial.user_attrs)),
        canonical(dict(trial.system_attrs)),
        canonical(dict(trial.intermediate_values), signed_zero=False),
        trial.datetime_start is not None,
        trial.datetime_complete is not None,
    )
