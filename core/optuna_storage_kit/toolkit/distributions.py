"""Distribution JSON, converted once per distinct distribution.

A sampler makes a new but equal distribution for every ``suggest_*`` call, and a store reads
the same JSON text back for every param of every trial. Optuna's
:func:`~optuna.distributions.distribution_to_json` and
:func:`~optuna.distributions.json_to_distribution` take a sizeable share of a param write or a
trial read; these two functions give the same results from a process-wide cache.

Distributions are immutable (Optuna never changes one after it is made), so a parsed one is
shared by every trial that uses it. Both functions are thread-safe.
"""

from __future__ import annotations

import functools
from typing import Any

import optuna.distributions
from optuna.distributions import BaseDistribution

__all__ = ["distribution_to_json", "json_to_distribution"]

_MAX_ENTRIES = 4096


@functools.lru_cache(maxsize=_MAX_ENTRIES)
def json_to_distribution(text: str) -> BaseDistribution:
    """:func:`optuna.distributions.json_to_distribution`, parsed once per distinct text.

    The result is shared: never change it.

    Raises:
        ValueError: ``text`` is not a distribution's JSON (as Optuna raises it; a malformed
            text may raise ``KeyError`` or ``TypeError`` too, as Optuna's function does).
    """
    return optuna.distributions.json_to_distribution(text)


def distribution_to_json(distribution: BaseDistribution) -> str:
    """:func:`optuna.distributions.distribution_to_json`, serialized once per distinct
    distribution.

    The cache is keyed by the class and the attributes in their order, which is the
    distribution's own equality without the sort that makes its hash cost a third of a param
    write, and by the types of a categorical's choices (``(1, 2)``, ``(1.0, 2.0)`` and
    ``(True, False)`` are equal but are written differently). A distribution with an
    unhashable attribute is serialized each time.
    """
    attrs = distribution.__dict__
    key: tuple[Any, ...] = (distribution.__class__, *attrs.items())
    if "choices" in attrs and type(attrs["choices"]) is tuple:
        key += tuple(map(type, attrs["choices"]))
    try:
        return _DUMPED[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable attribute (a custom distribution)
        return optuna.distributions.distribution_to_json(distribution)
    text = optuna.distributions.distribution_to_json(distribution)
    if len(_DUMPED) < _MAX_ENTRIES:
        _DUMPED[key] = text
    return text


_DUMPED: dict[tuple[Any, ...], str] = {}
