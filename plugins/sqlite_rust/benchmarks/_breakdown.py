"""Where a trial's time goes: the storage calls of ``study.optimize``, timed by layer.

Every public method of the storage Optuna holds (the kit's wrapper), of the backend's own
storage object and, for osk-sqlite, of its compiled core (``_native``) is wrapped in a timer,
so the microseconds per trial split into Optuna's own work, the kit's checks, the backend's
Python glue and the Rust core. The timers cost ~0.3 us a call each: the split is for reading,
the ratios come from untimed runs.
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


class _TimedNative:
    """Stands in for a ``NativeStore``, timing each call."""

    def __init__(self, native: Any, timers: _Timers) -> None:
        self._native = native
        self._timers = timers

    def __getattr__(self, name: str) -> Any:  # first use of a name only: then it is ours
        attr = getattr(self._native, name)
        if callable(attr):
            attr = self._timers.wrap("rust", name, attr)
        setattr(self, name, attr)
        return attr


def _instrument(storage: Any, layer: str, timers: _Timers) -> None:
    for name in dir(optuna.storages.BaseStorage):
        if not name.startswith("_") and callable(getattr(storage, name, None)):
            setattr(storage, name, timers.wrap(layer, name, getattr(storage, name)))


def breakdown(url: str, sampler: Callable[[], Any], n: int, objective: Any) -> dict[str, Any]:
    """Microseconds per trial of ``study.optimize`` at ``url``, split by layer, and the
    backend's counters per trial (statements, commits) when it has them."""
    study = optuna.create_study(storage=url, sampler=sampler())
    timers = _Timers()
    kit = study._storage
    inner = getattr(kit, "inner", kit)
    _instrument(kit, "kit", timers)
    if inner is not kit:
        _instrument(inner, "backend", timers)
    native = getattr(inner, "_native", None)
    if native is not None:
        inner._native = _TimedNative(native, timers)
    counters = getattr(inner, "osk_counters", None)
    before = counters() if counters else {}
    t0 = _CLOCK()
    study.optimize(objective, n_trials=n)
    total = _CLOCK() - t0
    us = 1e-3 / n
    storage = timers.layer("kit")
    backend = timers.layer("backend") or storage
    rust = timers.layer("rust")
    out: dict[str, Any] = {
        "us_per_trial": total * us,
        "optuna_us": (total - storage) * us,
        "kit_checks_us": (storage - backend) * us,
        "backend_python_us": (backend - rust) * us,
        "rust_us": rust * us,
        "rust_us_by_call": {
            key.split(".", 1)[1]: round(ns * us, 1)
            for key, ns in sorted(timers.ns.items(), key=lambda kv: -kv[1])
            if key.startswith("rust.")
        },
        "storage_calls_per_trial": sum(c for k, c in timers.calls.items() if k.startswith("kit."))
        / n,
    }
    if counters:
        after = counters()
        for key, value in after.items():
            out[f"{key}_per_trial"] = (value - before.get(key, 0)) / n
    return out
