"""The standard workload: one objective, its samplers and its finished trials.

``osk bench``, ``osk demo``, ``osk certify``'s performance category and the backends'
benchmarks all measure this one trial shape, so their figures compare: three float parameters
``x``, ``y``, ``z`` in ``[-10, 10]`` and a quadratic value, under a seeded sampler. Public for
backend authors' benchmarks::

    from optuna_storage_kit.toolkit import workloads

    study = optuna.create_study(storage=url, sampler=workloads.sampler("random"))
    study.optimize(workloads.objective, n_trials=1000)

Changing the objective changes every ratio the conformance kit holds backends to
(``THRESHOLDS`` in their plugins): re-certify the backends when you do.
"""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

__all__ = ["DISTRIBUTIONS", "SAMPLERS", "finished_trials", "objective", "sampler"]

DISTRIBUTIONS = {name: FloatDistribution(-10.0, 10.0) for name in ("x", "y", "z")}
"""The objective's parameters and their distributions."""

SAMPLERS = ("random", "tpe")
"""The samplers :func:`sampler` makes."""


def objective(trial: optuna.Trial) -> float:
    """Suggest the three parameters and return ``(x - 2)^2 + (y + 1)^2 + z^2``."""
    x = trial.suggest_float("x", -10.0, 10.0)
    y = trial.suggest_float("y", -10.0, 10.0)
    z = trial.suggest_float("z", -10.0, 10.0)
    return (x - 2) ** 2 + (y + 1) ** 2 + z**2


def sampler(name: str, *, seed: int = 0) -> optuna.samplers.BaseSampler:
    """A seeded ``"random"`` (``RandomSampler``) or ``"tpe"`` (``TPESampler``) sampler.

    Raises:
        ValueError: ``name`` is not one of :data:`SAMPLERS`.
    """
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLERS)}")


def finished_trials(n: int) -> list[FrozenTrial]:
    """``n`` COMPLETE trials of the objective's parameters, to add to a study untimed before
    reading them back (the ``get_all_trials`` workloads); each has a value, a user attribute and
    an intermediate value, so every part of a trial is read."""
    return [
        create_trial(
            state=TrialState.COMPLETE,
            value=float(i),
            params={"x": (i % 200) / 10 - 10, "y": 0.5, "z": -0.5},
            distributions=dict(DISTRIBUTIONS),
            user_attrs={"i": i},
            intermediate_values={0: float(i)},
        )
        for i in range(n)
    ]
