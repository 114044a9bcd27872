"""Child process of the durability test: write trials and acknowledge each returned write.

``python -m osk_conformance._durability_child SPEC DIRECTORY STUDY START`` prints
``ack <number> <stage>`` after each storage call returns, until it is killed.
"""

from __future__ import annotations

import sys

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from osk_conformance._target import open_spec

STAGES = ("created", "param", "attr", "complete")


def main(spec: str, directory: str, study_name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_spec(spec, directory)
    study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True)
    study_id = study._study_id
    print("ready", flush=True)
    while True:
        trial_id = storage.create_new_trial(study_id)
        number = storage.get_trial_number_from_id(trial_id)
        print(f"ack {number} created", flush=True)
        storage.set_trial_param(trial_id, "x", number / 1000, FloatDistribution(0, 1e6))
        print(f"ack {number} param", flush=True)
        storage.set_trial_user_attr(trial_id, "payload", {"n": number, "pad": "p" * 200})
        print(f"ack {number} attr", flush=True)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(number)])
        print(f"ack {number} complete", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
