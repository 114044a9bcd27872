"""Category 5, durability: a writer SIGKILLed at random points loses no acknowledged write.

A child process (forked from the kit's warm zygote process, so a kill costs no interpreter
start-up) writes trials through the backend and prints an acknowledgement after each call
returns; it is killed with SIGKILL after a random number of acknowledgements, and the store is
reopened. The store must open, nothing may be half-written (a COMPLETE trial has its parameter,
attribute and value), and what was acknowledged must be there: for a ``durable`` backend,
Optuna's persistence contract (every trial creation and completion, with all the trial's earlier
writes); for a ``write_through`` backend, every acknowledged write, a running trial's parameter
and attribute included. Several rounds write to the same store, so recovery after a kill is
tested too. The kill points come from the run's seed (``--seed``, shown in the certificate);
the full mode kills the writer 100 times.
"""

from __future__ import annotations

import random
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from osk_conformance._target import Target
from osk_conformance._zygote import Zygote

STAGE_ORDER = {"created": 0, "param": 1, "attr": 2, "complete": 3}


def _write_until_killed(
    zygote: Zygote, target: Target, directory: Path, study: str, acks: int
) -> dict[int, str]:
    """Run the child until it has acknowledged ``acks`` writes, SIGKILL it, return its acks."""
    acknowledged: dict[int, str] = {}
    with zygote.spawn(
        "osk_conformance._durability_child", target.spec, str(directory), study
    ) as child:
        seen = 0
        for line in child.stdout:
            if line.startswith("ack "):
                _, number, stage = line.split()
                acknowledged[int(number)] = stage
                seen += 1
            if seen >= acks:
                break
        else:
            code = child.wait(timeout=30)
            raise AssertionError(
                f"the writer died (exit {code}) before being killed: {child.failure}"
            )
        child.kill(signal.SIGKILL)
        child.wait()
        # Writes acknowledged between our last read and the kill count too.
        for line in child.stdout.read().splitlines():
            if line.startswith("ack "):
                _, number, stage = line.split()
                acknowledged[int(number)] = stage
    return acknowledged


def _check(
    storage: BaseStorage, study_name: str, acknowledged: dict[int, str], write_through: bool
) -> None:
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    lost = sorted(n for n in acknowledged if n not in trials)
    assert not lost, f"acknowledged trials lost after SIGKILL: {lost}"
    for number, stage in acknowledged.items():
        trial = trials[number]
        level = STAGE_ORDER[stage]
        if not write_through and level < STAGE_ORDER["complete"]:
            continue  # a running trial's own writes may wait for its state change
        if level >= 1:
            assert trial.params.get("x") == number / 1000, f"trial {number} lost its param"
        if level >= 2:
            assert trial.user_attrs.get("payload") == {"n": number, "pad": "p" * 200}, (
                f"trial {number} lost or half-wrote its attribute"
            )
        if level >= 3:
            assert trial.state == TrialState.COMPLETE and trial.values == [float(number)], (
                f"trial {number} lost its completion"
            )
    for trial in trials.values():
        if trial.state == TrialState.COMPLETE:
            assert trial.values == [float(trial.number)] and "x" in trial.params, (
                f"trial {trial.number} is half-written: {trial}"
            )
    assert sorted(trials) == list(range(len(trials))), "trial numbers have gaps"


KILLS_FULL = 100
KILLS_QUICK = 3


@pytest.mark.osk_requires("persistent", "durable")
def test_acknowledged_writes_survive_sigkill(
    osk_target: Target,
    osk_open: Callable[..., BaseStorage],
    osk_dir: Path,
    osk_quick: bool,
    osk_seed: int,
    osk_zygote: Zygote,
    request: pytest.FixtureRequest,
) -> None:
    request.node.user_properties.append(("seed", osk_seed))
    study = f"osk-{uuid.uuid4().hex}"
    rng = random.Random(f"{osk_seed}-durability")
    acknowledged: dict[int, str] = {}
    for _ in range(KILLS_QUICK if osk_quick else KILLS_FULL):
        acks = rng.randint(1, 40 if osk_quick else 120)
        acknowledged.update(_write_until_killed(osk_zygote, osk_target, osk_dir, study, acks))
        _check(osk_open(), study, acknowledged, osk_target.capabilities.write_through)
