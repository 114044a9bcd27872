"""Checks before writing: what Postgres text and Optuna's RDB schema cannot hold."""

from __future__ import annotations

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

__all__ = ["check_template", "not_updatable", "step", "text"]

_INT32 = 2**31


def _max_name_length() -> int:
    """The length of the schema's name and key columns (``VARCHAR(n)``), from Optuna's models:
    study names, attribute keys and param names are ``String(MAX_INDEXED_STRING_LENGTH)``."""
    try:
        from optuna.storages._rdb.models import MAX_INDEXED_STRING_LENGTH
    except ImportError:  # a private name of Optuna's: 512 in every schema version so far
        return 512
    return int(MAX_INDEXED_STRING_LENGTH)


MAX_NAME_LENGTH = _max_name_length()
"""How many characters a study name, attribute key or param name may have."""


def text(value: str, what: str) -> str:
    """Refuse a name the schema cannot store (a NUL character, or longer than its column)
    with a message naming it and the limit, before anything is written."""
    if "\x00" in value:
        raise ValueError(
            f"{what} {value!r} contains a NUL character (\\x00), which Postgres text cannot "
            "hold (nor can Optuna's RDBStorage on Postgres); remove it"
        )
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} {value[:40]!r}... has {len(value)} characters, more than the "
            f"{MAX_NAME_LENGTH} that Optuna's RDB schema holds (a VARCHAR({MAX_NAME_LENGTH}) "
            f"column, as for RDBStorage); use a shorter {what}"
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
