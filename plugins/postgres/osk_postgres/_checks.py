"""Checks before writing: what Postgres text and Optuna's RDB schema cannot hold."""

from __future__ import annotations

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

__all__ = ["check_template", "not_updatable", "step", "text"]

_INT32 = 2**31


def text(value: str, what: str) -> str:
    """Refuse text Postgres cannot store (a NUL character) with a message naming it."""
    if "\x00" in value:
        raise ValueError(
            f"{what} {value!r} contains a NUL character (\\x00), which Postgres text cannot "
            "hold (nor can Optuna's RDBStorage on Postgres); remove it"
        )
    return value


def step(number: int) -> int:
    """Refuse an intermediate-value step the schema's 32-bit column cannot hold."""
    if not -_INT32 <= number < _INT32:
        raise ValueError(
            f"intermediate value step {number} does not fit Optuna's RDB schema (a 32-bit integer "
            f"column, -2**31 <= step < 2**31); use a smaller step number"
        )
    return number


def check_template(template: FrozenTrial) -> None:
    """Apply the checks to everything a template trial carries."""
    for number in template.intermediate_values:
        step(number)
    for name in template.params:
        text(name, "param name")
    for key in (*template.user_attrs, *template.system_attrs):
        text(key, "attribute key")


def not_updatable(trial_id: int, state: str) -> UpdateFinishedTrialError:
    return UpdateFinishedTrialError(
        f"Trial#{trial_id} has already finished ({state}) and can not be updated."
    )
