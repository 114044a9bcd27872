"""Trial records for a backend's cache: finished states, fresh trials and fast copies.

A backend that caches :class:`~optuna.trial.FrozenTrial` objects hands out copies and replaces
the cached object on every write (copy-on-write), so a trial it handed out never changes under
its caller. Three copies serve the three moments:

* :func:`replaced`: before a write, the cached trial's copy whose fields are then *replaced*
  (``trial.params = {**trial.params, name: value}``), never changed in place; it shares every
  container with the original, so it costs a fraction of ``copy.copy``;
* :func:`snapshot`: a trial as it is now, unaffected by the backend's later writes to the
  cached one when the backend changes its attribute dicts in place;
* :func:`copy_trials` and :func:`copy_trial`: what ``get_all_trials(deepcopy=True)`` and
  ``get_trial`` promise the caller: copies that share nothing mutable with the cache, about
  five times cheaper than ``copy.deepcopy``.

:func:`new_trial` builds the record of a trial just created, and :data:`FINISHED` (with
:data:`FINISHED_NAMES` and :data:`FINISHED_VALUES` for stores that keep the state as its name
or its number) says which states end a trial, as ``TrialState.is_finished`` does.
:class:`gc_paused` makes building many records at once (a large study's first read) about
twice as fast.

All functions are thread-safe: they read their arguments and build new objects.
"""

from __future__ import annotations

import copy
import datetime
import gc
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "FINISHED",
    "FINISHED_NAMES",
    "FINISHED_VALUES",
    "copy_trial",
    "copy_trials",
    "gc_paused",
    "new_trial",
    "replaced",
    "snapshot",
]

FINISHED: frozenset[TrialState] = frozenset(s for s in TrialState if s.is_finished())
"""The states a trial never leaves (COMPLETE, PRUNED, FAIL)."""

FINISHED_NAMES: frozenset[str] = frozenset(s.name for s in FINISHED)
""":data:`FINISHED` as Optuna's RDB schema stores states (``"COMPLETE"``, ...)."""

FINISHED_VALUES: frozenset[int] = frozenset(s.value for s in FINISHED)
""":data:`FINISHED` as Optuna's journal stores states (``TrialState.value``: 1, 2, 3)."""

_SCALARS = (str, int, float, bool, type(None))
_new = FrozenTrial.__new__


def new_trial(
    trial_id: int,
    number: int,
    datetime_start: datetime.datetime | None,
    state: TrialState = TrialState.RUNNING,
) -> FrozenTrial:
    """The record of a trial just created: no params, values or attributes yet.

    Args:
        trial_id: The storage's id of the trial.
        number: The trial's number in its study.
        datetime_start: When it started (``None`` for a WAITING trial).
        state: RUNNING, or WAITING for an enqueued trial.
    """
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=None,
        datetime_start=datetime_start,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


class gc_paused:  # a lowercase name: it reads as a function (``with gc_paused():``)
    """``with gc_paused():`` Python's cyclic garbage collector does not run inside the block.

    Building the records of many trials allocates millions of containers, and every few
    hundred allocations start a collection; the older generations' collections traverse every
    object already built, so the work grows faster than the number of trials (it doubled the
    time to open a 200,000-trial study). Nothing built in the block is garbage yet, so pausing
    loses nothing: the collector's next run after the block does what was skipped.

    The collector is enabled again on exit only if it was enabled on entry. It is one switch
    for the whole process: another thread's allocations are not collected meanwhile either,
    and a thread that disables the collector during the block sees it enabled after it.
    """

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._was_enabled:
            gc.enable()


def replaced(trial: FrozenTrial) -> FrozenTrial:
    """A shallow copy, as ``copy.copy`` makes it, in a fraction of its time.

    It shares every container with ``trial``: assign new ones to its fields
    (``new.user_attrs = {**new.user_attrs, key: value}``), never change one in place.
    """
    new = _new(FrozenTrial)
    new.__dict__.update(trial.__dict__)
    return new


def snapshot(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` as it is now: its containers copied one level, their values shared.

    Later writes that replace or add entries of ``trial``'s params, distributions,
    intermediate values, values or attributes do not show in the snapshot; a change *inside*
    an attribute value (a list appended to) would, so the backend must never make one.
    """
    return _copy(trial, dict(trial._user_attrs), dict(trial._system_attrs))


def copy_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Copies that share nothing mutable with ``trials``, about 5x cheaper than ``deepcopy``.

    What ``get_all_trials(deepcopy=True)`` promises. Attribute values that are containers (a
    JSON list or object) are deep-copied by one ``copy.deepcopy`` call for all of the trials,
    so aliasing among them is kept as ``deepcopy`` keeps it (and Optuna's own test, which
    checks that ``copy.deepcopy`` is called, passes). Every other part holds immutable things
    (numbers, strings, datetimes, distributions), so its dict or list is copied one level.
    """
    nested = [
        value
        for trial in trials
        for attrs in (trial._user_attrs, trial._system_attrs)
        for value in attrs.values()
        if not isinstance(value, _SCALARS)
    ]
    copies = iter(copy.deepcopy(nested))
    return [
        _copy(trial, _take(trial._user_attrs, copies), _take(trial._system_attrs, copies))
        for trial in trials
    ]


def copy_trial(trial: FrozenTrial) -> FrozenTrial:
    """One trial's copy, as :func:`copy_trials` makes it."""
    return copy_trials([trial])[0]


def _copy(trial: FrozenTrial, user: dict[str, Any], system: dict[str, Any]) -> FrozenTrial:
    new = replaced(trial)
    new._params = dict(trial._params)
    new._distributions = dict(trial._distributions)
    new.intermediate_values = dict(trial.intermediate_values)
    new._user_attrs = user
    new._system_attrs = system
    if trial._values is not None:
        new._values = list(trial._values)
    return new


def _take(attrs: dict[str, Any], copies: Iterator[Any]) -> dict[str, Any]:
    """``attrs`` with its containers taken, in order, from the deep copies."""
    return {k: v if isinstance(v, _SCALARS) else next(copies) for k, v in attrs.items()}
