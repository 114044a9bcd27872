"""This process's picture of one study: the trials, by number, as FrozenTrial objects."""

from __future__ import annotations

from optuna.distributions import BaseDistribution
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["StudyView"]

_WAITING = TrialState.WAITING


class StudyView:
    """This process's view of one study: trials by number, directions, known distributions."""

    __slots__ = ("directions", "holes", "param_dists", "trials", "waiting")

    def __init__(self) -> None:
        self.trials: list[FrozenTrial | None] = []
        self.holes = 0
        self.waiting: set[int] = set()  # numbers of WAITING trials (Optuna asks every trial)
        self.directions: list[StudyDirection] | None = None
        self.param_dists: dict[str, BaseDistribution] = {}

    def place(self, trial: FrozenTrial) -> None:
        n = trial.number
        if trial.state == _WAITING:
            self.waiting.add(n)
        else:
            self.waiting.discard(n)
        if n < len(self.trials):
            if self.trials[n] is None:
                self.holes -= 1
            self.trials[n] = trial
            return
        if n > len(self.trials):
            self.holes += n - len(self.trials)
            self.trials.extend([None] * (n - len(self.trials)))
        self.trials.append(trial)

    def all(self) -> list[FrozenTrial]:
        if self.holes:
            return [t for t in self.trials if t is not None]
        return self.trials  # type: ignore[return-value]
