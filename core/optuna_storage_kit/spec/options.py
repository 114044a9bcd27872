"""Typed, validated storage options, given as keyword arguments or URL query parameters."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from optuna_storage_kit.errors import InvalidOptionError

__all__ = [
    "HEARTBEAT_OPTIONS",
    "MODE_OPTION",
    "SYNC_OPTION_NAME",
    "Option",
    "resolve_options",
    "sync_option",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True)
class Option:
    """One option a backend accepts.

    Args:
        name: The keyword/query name, a Python identifier.
        type: ``int``, ``float``, ``bool``, ``str`` or ``callable``. URL query values are
            converted to it; keyword values must already be of it (an ``int`` is accepted
            for a ``float`` option).
        default: The value used when the option is not given. ``None`` means "not set".
        help: One line for users: what the option does, with its unit.
        choices: For ``str`` options, the allowed values.
        minimum: For numbers, the smallest allowed value.
        in_url: Whether the option may be given in the URL query. Callables may not.
        aliases: Former names, still accepted (in the URL and as keywords) with a
            ``FutureWarning`` that names the option to use instead.
    """

    name: str
    type: Any
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    in_url: bool = True
    aliases: tuple[str, ...] = ()

    def describe_type(self) -> str:
        if self.choices:
            return " | ".join(repr(c) for c in self.choices)
        return "callable" if self.type is callable else self.type.__name__

    def parse(self, raw: str) -> Any:
        """Convert a URL query value to the option's type and validate it."""
        if not self.in_url:
            raise InvalidOptionError(
                f"option {self.name!r} cannot be given in the URL; pass it as a keyword argument"
            )
        value: Any
        try:
            if self.type is bool:
                lowered = raw.strip().lower()
                if lowered not in _TRUE | _FALSE:
                    raise ValueError(raw)
                value = lowered in _TRUE
            elif self.type in (int, float):
                value = self.type(raw)
            else:
                value = raw
        except ValueError:
            raise InvalidOptionError(
                f"option {self.name!r} must be {self.describe_type()}, got {raw!r} in the URL"
            ) from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Validate a keyword value, returning it (an ``int`` becomes ``float`` if need be)."""
        if value is None:
            return None
        if self.type is callable:
            ok = callable(value)
        elif self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif self.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, self.type)
        if not ok:
            raise InvalidOptionError(
                f"option {self.name!r} must be {self.describe_type()}, "
                f"got {type(value).__name__} {value!r}"
            )
        if self.choices is not None and value not in self.choices:
            raise InvalidOptionError(
                f"option {self.name!r} must be one of {', '.join(map(repr, self.choices))}, "
                f"got {value!r}"
            )
        if self.minimum is not None and value < self.minimum:
            raise InvalidOptionError(
                f"option {self.name!r} must be at least {self.minimum:g}, got {value!r}"
            )
        return value


HEARTBEAT_OPTIONS: tuple[Option, ...] = (
    Option(
        "heartbeat_interval",
        int,
        None,
        "Seconds between heartbeats of a running trial; None disables heartbeats.",
        minimum=1,
    ),
    Option(
        "grace_period",
        int,
        None,
        "Seconds without a heartbeat after which a RUNNING trial is failed "
        "(default: 2 x heartbeat_interval).",
        minimum=1,
    ),
    Option(
        "heartbeat_stale_trial_callback",
        callable,
        None,
        "Called as callback(study, frozen_trial) for each trial failed for a stale heartbeat.",
        in_url=False,
    ),
    Option(
        "failed_trial_callback",
        callable,
        None,
        "Deprecated alias of heartbeat_stale_trial_callback, as in Optuna's RDBStorage.",
        in_url=False,
    ),
)
"""Options every backend with the ``heartbeat`` capability accepts, with RDBStorage's meaning."""

MODE_OPTION = Option(
    "mode",
    str,
    "rw",
    "rw: read and write, creating the store if it does not exist; ro: read only, for "
    "inspection: nothing is created or changed, and a missing store is an error.",
    choices=("rw", "ro"),
)
"""The option every backend with the ``read_only`` capability accepts."""

SYNC_OPTION_NAME = "synchronous"
"""The name of every backend's sync-level option (how far a returned write has gone toward
stable storage), whatever its values are called in the backend."""


def sync_option(
    default: str | None,
    help: str,
    choices: tuple[str, ...],
    *,
    aliases: tuple[str, ...] = (),
) -> Option:
    """The option that sets a backend's sync level, under its one name across backends.

    The values are the backend's own (SQLite's ``PRAGMA synchronous``, Postgres's
    ``synchronous_commit``, a journal's fsync policy); the name is :data:`SYNC_OPTION_NAME`.

    Args:
        default: The backend's default level (``None``: the server's setting).
        help: One line for users: what each value keeps after a crash or a power loss.
        choices: The levels the backend accepts.
        aliases: The backend's former names for the option, accepted with a warning.
    """
    return Option(SYNC_OPTION_NAME, str, default, help, choices=choices, aliases=aliases)


def resolve_options(
    declared: tuple[Option, ...],
    query: Mapping[str, str | tuple[str, ...]],
    kwargs: Mapping[str, Any],
    *,
    backend: str,
    heartbeat_supported: bool,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Merge URL query options and keyword options into one validated dict.

    Every declared option is present in the result, with its default if not given.

    Raises:
        InvalidOptionError: An option is unknown, given twice, of the wrong type or out of range.
    """
    by_name = {o.name: o for o in declared}
    renames = {alias: o.name for o in declared for alias in o.aliases}
    if renames:
        query = _renamed(query, renames, warn or _future_warning)
        kwargs = _renamed(kwargs, renames, warn or _future_warning)
    for name in (*query, *kwargs):
        if name in by_name:
            continue
        if not heartbeat_supported and name in {o.name for o in HEARTBEAT_OPTIONS}:
            raise InvalidOptionError(
                f"backend {backend!r} does not support heartbeats, so option {name!r} cannot "
                "be used; choose a backend whose capabilities include 'heartbeat' "
                "(see `osk backends`)"
            )
        valid = ", ".join(sorted(by_name)) or "(none)"
        raise InvalidOptionError(
            f"unknown option {name!r} for backend {backend!r}; valid options are: {valid}"
        )
    twice = sorted(set(query) & set(kwargs))
    if twice:
        raise InvalidOptionError(
            f"option {twice[0]!r} is given both in the URL and as a keyword argument; give it once"
        )
    result: dict[str, Any] = {}
    for option in declared:
        if option.name in kwargs:
            result[option.name] = option.check(kwargs[option.name])
        elif option.name in query:
            raw = query[option.name]
            if not isinstance(raw, str):
                raise InvalidOptionError(
                    f"option {option.name!r} is given more than once in the URL"
                )
            result[option.name] = option.parse(raw)
        else:
            result[option.name] = option.default
    if heartbeat_supported:
        _merge_heartbeat_callbacks(result, warn or _future_warning)
    return result


def _renamed(
    given: Mapping[str, Any], renames: Mapping[str, str], warn: Callable[[str], None]
) -> Mapping[str, Any]:
    """``given`` with deprecated option names replaced by the current ones, warning for each."""
    if not renames.keys() & given.keys():
        return given
    result = dict(given)
    for old, new in renames.items():
        if old not in result:
            continue
        if new in result:
            raise InvalidOptionError(
                f"give only one of {new!r} and {old!r} (the second is a deprecated alias "
                "of the first)"
            )
        warn(f"option {old!r} is deprecated: use {new!r} (it takes the same values)")
        result[new] = result.pop(old)
    return result


def _future_warning(message: str) -> None:
    warnings.warn(message, FutureWarning, stacklevel=4)


def _merge_heartbeat_callbacks(result: dict[str, Any], warn: Callable[[str], None]) -> None:
    """Apply RDBStorage's rules to the two heartbeat callback names."""
    old = result.pop("failed_trial_callback", None)
    if old is None:
        return
    if result.get("heartbeat_stale_trial_callback") is not None:
        raise InvalidOptionError(
            "give only one of 'heartbeat_stale_trial_callback' and 'failed_trial_callback' "
            "(the second is a deprecated alias of the first)"
        )
    warn(
        "'failed_trial_callback' is deprecated, as in Optuna 4.9+; "
        "use 'heartbeat_stale_trial_callback' instead."
    )
    result["heartbeat_stale_trial_callback"] = old
