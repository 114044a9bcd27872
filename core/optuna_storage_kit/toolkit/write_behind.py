"""Buffering a running trial's writes ("write-behind"): the rule, its options and its claims.

Optuna's persistence contract lets a backend keep some writes in memory for a while; the
conformance kit's ``lifecycle`` and ``durability`` categories hold every backend to this rule,
whatever its buffer looks like inside (the SQLite backend's is in Rust, Postgres's in Python).

**What may be buffered:** the params, user and system attributes and intermediate values of a
trial that *this process* runs and that is still ``RUNNING``. Nothing else: creating a study
or a trial, a study's attributes and every state change are stored before the call returns.

**When buffered writes must be stored**, at the latest:

* with the trial's state change (``tell``: ``COMPLETE``, ``PRUNED``, ``FAIL``), in the same
  transaction or before it, so a finished trial is never seen without its params;
* with its heartbeat (a trial another process may judge stale must show what it did);
* at ``close()``, at interpreter exit, before ``fork`` and when the storage object is
  garbage-collected (:mod:`optuna_storage_kit.toolkit.lifecycle` does the last three);
* every ``flush_interval`` seconds (a timed flush), so other processes and the dashboard see
  a long trial's progress: this is the backend's ``visibility_delay_s``.

**What may be lost:** only when the process dies without an exit (a kill, a power loss) the
buffered writes of its running trials; those trials are then failed by heartbeats as usual.

Backends declare the two options with :func:`options` and the claims they imply with
:func:`capabilities_for` and :func:`visibility_delay_s`: ``write_behind=false`` stores every
write before it returns (``write_through``) and shows it at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from optuna_storage_kit.spec.capabilities import Capabilities
from optuna_storage_kit.spec.options import Option

__all__ = ["FLUSH_INTERVAL", "WRITE_BEHIND", "capabilities_for", "options", "visibility_delay_s"]

WRITE_BEHIND = "write_behind"
"""The option's name in every backend that buffers: ``true`` buffers, ``false`` writes through."""
FLUSH_INTERVAL = "flush_interval"
"""Seconds at most a running trial's buffered writes wait before a timed flush stores them."""


def options(*, cost: str, flush_interval: float = 1.0) -> tuple[Option, Option]:
    """The ``write_behind`` and ``flush_interval`` options, worded the same for every backend.

    Args:
        cost: What the buffered default costs per trial on this backend, for the help text
            (e.g. ``"2 commits per trial"``).
        flush_interval: The default seconds between timed flushes.
    """
    return (
        Option(
            WRITE_BEHIND,
            bool,
            True,
            "true: keep a running trial's params, attributes and intermediate values in memory "
            "until its state change, heartbeat, a timed flush, close, exit or fork (Optuna's "
            f"persistence contract; {cost}; a killed process loses its running trials' "
            "unstored writes); false: store every write before it returns.",
        ),
        Option(
            FLUSH_INTERVAL,
            float,
            flush_interval,
            "With write_behind: seconds at most before a running trial's buffered writes are "
            "stored, so other processes and the dashboard see long trials' progress.",
            minimum=0.01,
        ),
    )


def capabilities_for(buffered: Capabilities) -> Callable[[Mapping[str, Any]], Capabilities]:
    """``Backend(capabilities_for=...)`` for a backend whose default (buffered) claims are
    ``buffered``: with ``write_behind=false`` it also claims ``write_through``."""

    def claims(resolved: Mapping[str, Any]) -> Capabilities:
        if resolved.get(WRITE_BEHIND, True):
            return buffered
        return dataclasses.replace(buffered, write_through=True)

    return claims


def visibility_delay_s(resolved: Mapping[str, Any]) -> float:
    """``Backend(visibility_delay_s=...)``: how long other processes may miss a running
    trial's writes: ``flush_interval`` when buffering, else 0."""
    if resolved.get(WRITE_BEHIND, True):
        return float(resolved.get(FLUSH_INTERVAL) or 0.0)
    return 0.0
