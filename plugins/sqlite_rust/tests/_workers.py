"""Functions run in worker processes by the multi-process tests (importable by spawn)."""

from __future__ import annotations

import time

import optuna

import optuna_storage_kit  # noqa: F401  (lets Optuna accept optuna+ URLs)


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", 0, 10)
    trial.set_user_attr("pid_free", True)
    return x * x + y


def optimize(url: str, study_name: str, n_trials: int) -> int:
    """Run trials in a study; return how many this process ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name, storage=url, sampler=optuna.samplers.RandomSampler()
    )
    study.optimize(objective, n_trials=n_trials)
    return n_trials


def run_then_hang(url: str, study_name: str, done: int) -> None:
    """Finish ``done`` trials, then start one that never ends (the test kills us)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_storage_kit.open_storage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name=study_name, storage=storage)

    def hang_last(trial: optuna.Trial) -> float:
        value = objective(trial)
        if trial.number >= done:
            trial.set_user_attr("hung", True)
            while True:
                time.sleep(0.05)
        return value

    study.optimize(hang_last, n_trials=done + 1)


if __name__ == "__main__":
    import sys

    command, url, name, count = sys.argv[1:5]
    if command == "optimize":
        optimize(url, name, int(count))
    elif command == "hang":
        run_then_hang(url, name, int(count))
    else:
        raise SystemExit(f"unknown command {command!r}")
