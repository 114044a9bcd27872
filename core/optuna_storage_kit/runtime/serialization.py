"""The one serialization policy every backend shares.

An attribute value is accepted exactly when it comes back unchanged from JSON: ``None``,
``bool``, ``int``, ``float`` (``nan`` and ``inf`` included, as Optuna stores them), ``str``,
and ``list``/``tuple``/``dict`` (``str`` keys) nesting those, at most :data:`MAX_DEPTH` deep.
Accepted values are normalised the way JSON would return them: tuples become lists and
subclasses of ``float`` (``numpy.float64``) become ``float``, so every backend, the in-memory
one included, gives back the same thing. Anything else raises
:class:`~optuna_storage_kit.SerializationError` naming the key path, the type and the fix.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from typing import Any

from optuna_storage_kit.errors import SerializationError

__all__ = ["MAX_DEPTH", "check_attr", "normalize_value"]

MAX_DEPTH = 100
"""The deepest nesting of lists and dicts accepted (a value at depth 0 is a scalar)."""

_SCALARS = (type(None), bool, int, str)


def check_attr(key: object, value: object, *, what: str) -> Any:
    """Validate an attribute and return the value as every backend will return it.

    Args:
        key: The attribute key; must be a ``str``.
        value: The attribute value.
        what: Names the attribute in messages, e.g. ``"user attribute of trial 3"``.

    Raises:
        SerializationError: The key is not a ``str`` or the value would not round-trip.
    """
    if type(key) is not str:
        raise SerializationError(
            f"cannot store {what} with key {key!r}: keys must be str, not "
            f"{_type_name(key)}; convert it with str(...)",
            path=repr(key),
            type_name=_type_name(key),
        )
    return normalize_value(value, path=key, what=what)


def normalize_value(value: object, *, path: str = "value", what: str = "value") -> Any:
    """Return ``value`` as JSON would give it back, or raise :class:`SerializationError`.

    Args:
        value: The value to check.
        path: The name of the value, the root of key paths in messages.
        what: What the value is, for messages.
    """
    kind = type(value)
    if kind in _SCALARS or kind is float:
        return value
    return _normalize(value, path, what, 0)


def _normalize(value: Any, path: str, what: str, depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS or kind is float:
        return value
    if isinstance(value, float) and _module(value) is not None:
        # numpy.float64 and friends subclass float: JSON returns the same number as a float.
        return float(value)
    if depth >= MAX_DEPTH and isinstance(value, (list, tuple, dict)):
        raise SerializationError(
            f"cannot store {what}: the value at {path} is nested more than {MAX_DEPTH} levels "
            "deep (or refers to itself); flatten it or store it as a string with json.dumps",
            path=path,
            type_name=_type_name(value),
        )
    if kind in (list, tuple):
        return [_normalize(v, f"{path}[{i}]", what, depth + 1) for i, v in enumerate(value)]
    if kind is dict:
        result = {}
        for k, v in value.items():
            if type(k) is not str:
                raise SerializationError(
                    f"cannot store {what}: the dict at {path} has the key {k!r} of type "
                    f"{_type_name(k)}; JSON keys are strings, so convert the key with str(...)",
                    path=f"{path}[{k!r}]",
                    type_name=_type_name(k),
                )
            result[k] = _normalize(v, f"{path}[{k!r}]", what, depth + 1)
        return result
    raise SerializationError(
        f"cannot store {what}: the value at {path} is {_type_name(value)}, which does not "
        f"come back unchanged from JSON; {_fix(value)}",
        path=path,
        type_name=_type_name(value),
    )


def _module(value: object) -> str | None:
    module = type(value).__module__
    return None if module == "builtins" else module


def _type_name(value: object) -> str:
    kind = type(value)
    module = _module(value)
    return f"{module}.{kind.__qualname__}" if module else kind.__qualname__


def _fix(value: object) -> str:
    """Say how to turn ``value`` into something storable."""
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        if hasattr(value, "ndim") and getattr(value, "ndim", 0) > 0:
            return "convert it with .tolist() first"
        return "convert it with .item() first"
    if module in {"torch", "jax", "jaxlib", "tensorflow", "pandas"}:
        return "convert it with .tolist() (arrays) or .item() (scalars) first"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "store it as a string with .isoformat()"
    if isinstance(value, datetime.timedelta):
        return "store it as a number with .total_seconds()"
    if isinstance(value, (set, frozenset)):
        return "convert it with sorted(...) or list(...) first"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "store text with .decode() or binary data as base64 text"
    if isinstance(value, decimal.Decimal):
        return "convert it with float(...) or str(...) first"
    if isinstance(value, enum.Enum):
        return "store its .value or .name instead"
    if isinstance(value, (bool, int)):
        return "convert it with int(...) first"
    if isinstance(value, str):
        return "convert it with str(...) first"
    if isinstance(value, (list, tuple)):
        return "convert it with list(...) first"
    if isinstance(value, dict):
        return "convert it with dict(...) first"
    return "convert it with str(...) or to a JSON type (dict, list, str, int, float, bool, None)"
