"""Where a trial's time goes: the storage calls of ``study.optimize``, timed by layer.

For benchmarks (never a timed assert in a test): every public storage method of the storage
Optuna holds (the kit's wrapper) and of the backend's own storage object is wrapped in a timer,
and, if the backend names one, every call into its compiled core, so the microseconds of a
trial split into Optuna's own work, the kit's checks, the backend's Python and its core. A
timer costs ~0.3 us a call: read the split, and take ratios from untimed runs. Run it in a
process of its own (the wrappers stay on the storage object)::

    from optuna_storage_kit.toolkit import breakdown, workloads

    figures = breakdown.breakdown(
        "optuna+sqlite:///bd.db",
        lambda: workloads.sampler("random"),
        2_500,
        workloads.objective,
        core_attribute="_native",  # osk-sqlite's Rust core
    )
    # {"us_per_trial": 193.2, "optuna_us": 100.5, "kit_checks_us": 5.8,
    #  "backend_python_us": 41.6, "core_us": 45.2, "core_us_by_call": {"set_state": 28.0, ...},
    #  "storage_calls_per_trial": 8.0, "statements_per_trial": 11.0, ...}

The backend's deterministic counters (``osk_counters()``), when it has them, are reported per
trial too.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import optuna

__all__ = ["breakdown"]

_CLOCK = time.perf_counter_ns


class _Timers:
    def __init__(self) -> None:
        self.ns: defaultdict[str, int] = defaultdict(int)
        self.calls: defaultdict[str, int] = defaultdict(int)

    def wrap(self, layer: str, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        key = f"{layer}.{name}"

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = _CLOCK()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[key] += _CLOCK() - t0
                self.calls[key] += 1

        return timed

    def layer(self, layer: str) -> int:
        return sum(ns for key, ns in self.ns.items() if key.startswith(layer + "."))


class _TimedCore:
    """Stands in for a backend's compiled core, timing each call."""

    def __init__(self, core: Any, timers: _Timers) -> None:
        self._core = core
        self._timers = timers

    def __getattr__(self, name: str) -> Any:  # first use of a name only: then it is ours
        attr = getattr(self._core, name)
        if callable(attr):
            attr = self._timers.wrap("core", name, attr)
        setattr(self, name, attr)
        return attr


def _instrument(storage: Any, layer: str, timers: _Timers) -> None:
    for name in dir(optuna.storages.BaseStorage):
        if not name.startswith("_") and callable(getattr(storage, name, None)):
            setattr(storage, name, timers.wrap(layer, name, getattr(storage, name)))


def breakdown(
    url: str,
    sampler: Callable[[], Any],
    n: int,
    objective: Callable[[optuna.Trial], float],
    *,
    core_attribute: str | None = None,
) -> dict[str, Any]:
    """Microseconds per trial of ``study.optimize`` at ``url``, split by layer.

    Args:
        url: The storage, opened as Optuna opens it (``optuna+...`` URLs through the kit).
        sampler: Makes the study's sampler.
        n: Trials to optimize (after warming up, so call it once with a few trials first).
        objective: The objective (``workloads.objective`` is the kit's standard one).
        core_attribute: The attribute of the backend's storage object that holds its
            compiled core, whose calls are then timed as the ``core`` layer.

    Returns:
        ``us_per_trial``; its parts ``optuna_us`` (all but the storage calls), ``kit_checks_us``
        (the kit's wrapper), ``backend_python_us`` and ``core_us`` (with ``core_us_by_call``,
        the slowest first); ``storage_calls_per_trial``; and ``<counter>_per_trial`` for each
        of the backend's ``osk_counters()``.
    """
    study = optuna.create_study(storage=url, sampler=sampler())
    timers = _Timers()
    kit = study._storage
    inner = getattr(kit, "inner", kit)
    _instrument(kit, "kit", timers)
    if inner is not kit:
        _instrument(inner, "backend", timers)
    if core_attribute is not None:
        setattr(inner, core_attribute, _TimedCore(getattr(inner, core_attribute), timers))
    counters = getattr(inner, "osk_counters", None)
    before = counters() if counters else {}
    t0 = _CLOCK()
    study.optimize(objective, n_trials=n)
    total = _CLOCK() - t0
    us = 1e-3 / n
    storage = timers.layer("kit")
    backend = timers.layer("backend") or storage
    core = timers.layer("core")
    out: dict[str, Any] = {
        "us_per_trial": total * us,
        "optuna_us": (total - storage) * us,
        "kit_checks_us": (storage - backend) * us,
        "backend_python_us": (backend - core) * us,
        "core_us": core * us,
        "core_us_by_call": {
            key.split(".", 1)[1]: round(ns * us, 1)
            for key, ns in sorted(timers.ns.items(), key=lambda kv: -kv[1])
            if key.startswith("core.")
        },
        "storage_calls_per_trial": sum(c for k, c in timers.calls.items() if k.startswith("kit."))
        / n,
    }
    if counters:
        after = counters()
        for key, value in after.items():
            out[f"{key}_per_trial"] = (value - before.get(key, 0)) / n
    return out
