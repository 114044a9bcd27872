"""What the lifecycle tests' processes write, and how the kit checks it is all there.

A writing process acknowledges every storage call that returned by printing ``ack <json>`` (one
``os.write`` per line, so threads and forked children can share the pipe). The kit folds the
acknowledgements into the record the store must hold (:func:`expected`) and compares it with
what a fresh storage object reads (:func:`study_record`, :func:`differences`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.storages import BaseStorage

__all__ = ["Writer", "differences", "emit", "expected", "parse", "store_record", "study_record"]


def emit(kind: str, record: dict[str, Any] | None = None) -> None:
    """Print ``kind <json>`` as one write (atomic on a pipe for lines under 4 KiB)."""
    os.write(1, f"{kind} {json.dumps(record or {})}\n".encode())


def parse(line: str) -> tuple[str, dict[str, Any]]:
    kind, _, payload = line.strip().partition(" ")
    return kind, (json.loads(payload) if payload else {})


class Writer:
    """Writes a study the way people do (``ask``, ``suggest_*``, attributes, ``report``,
    ``tell``), acknowledging each call once it returned."""

    def __init__(self, storage: BaseStorage, study_name: str) -> None:
        self.storage = storage
        self.study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            load_if_exists=True,
            sampler=optuna.samplers.RandomSampler(),
        )

    def study_attrs(self, tag: str) -> None:
        self.study.set_user_attr(f"user-{tag}", {"tag": tag, "n": [1, 2.5]})
        emit(
            "ack",
            {
                "op": "study_attr",
                "kind": "user",
                "key": f"user-{tag}",
                "value": {"tag": tag, "n": [1, 2.5]},
            },
        )
        self.storage.set_study_system_attr(self.study._study_id, f"system-{tag}", tag)
        emit("ack", {"op": "study_attr", "kind": "system", "key": f"system-{tag}", "value": tag})

    def running(self, tag: str) -> optuna.Trial:
        """A trial left RUNNING with params, user and system attributes and two reports."""
        trial = self.study.ask()
        number = trial.number
        emit("ack", {"op": "trial", "trial": number})
        for name, value in (
            ("x", trial.suggest_float("x", 0, 1)),
            ("n", trial.suggest_int("n", 1, 9)),
            ("c", trial.suggest_categorical("c", ["a", "b"])),
        ):
            emit("ack", {"op": "param", "trial": number, "name": name, "value": value})
        trial.set_user_attr("note", f"hello {tag}")
        emit(
            "ack",
            {
                "op": "attr",
                "trial": number,
                "kind": "user",
                "key": "note",
                "value": f"hello {tag}",
            },
        )
        self.storage.set_trial_system_attr(trial._trial_id, "sys", {"tag": tag})
        emit(
            "ack",
            {"op": "attr", "trial": number, "kind": "system", "key": "sys", "value": {"tag": tag}},
        )
        for step, value in ((1, 0.3), (2, 0.25)):
            trial.report(value, step)
            self.reported(number, step, value)
        return trial

    def reported(self, number: int, step: int, value: float) -> None:
        emit("ack", {"op": "report", "trial": number, "step": step, "value": value})

    def finished(self, tag: str) -> None:
        """A trial as :meth:`running`, then told COMPLETE."""
        trial = self.running(tag)
        value = float(trial.number) + 0.5
        self.study.tell(trial, value)
        self.told(trial.number, value)

    def told(self, number: int, value: float) -> None:
        emit("ack", {"op": "state", "trial": number, "state": "COMPLETE", "values": [value]})


def _trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "state": trial.state.name,
        "values": trial.values,
        "params": dict(trial.params),
        "user_attrs": dict(trial.user_attrs),
        "system_attrs": dict(trial.system_attrs),
        "intermediate": {str(k): v for k, v in trial.intermediate_values.items()},
    }


def study_record(storage: BaseStorage, study_name: str) -> dict[str, Any]:
    """Everything observable of a study, as JSON-able data (trials by number)."""
    study_id = storage.get_study_id_from_name(study_name)
    return {
        "directions": [d.name for d in storage.get_study_directions(study_id)],
        "user_attrs": storage.get_study_user_attrs(study_id),
        "system_attrs": storage.get_study_system_attrs(study_id),
        "trials": {
            str(t.number): _trial_record(t)
            for t in storage.get_all_trials(study_id, deepcopy=False)
        },
    }


def store_record(storage: BaseStorage, names: Iterable[str] | None = None) -> dict[str, Any]:
    """:func:`study_record` of every study of the store (or of ``names``)."""
    wanted = set(names) if names is not None else None
    return {
        s.study_name: study_record(storage, s.study_name)
        for s in storage.get_all_studies()
        if wanted is None or s.study_name in wanted
    }


def expected(acks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The record the acknowledged writes must have left (attributes and trials written)."""
    record: dict[str, Any] = {"user_attrs": {}, "system_attrs": {}, "trials": {}}
    for ack in acks:
        op = ack["op"]
        if op == "study_attr":
            record[f"{ack['kind']}_attrs"][ack["key"]] = ack["value"]
            continue
        number = str(ack["trial"])
        trial = record["trials"].setdefault(
            number,
            {
                "state": "RUNNING",
                "values": None,
                "params": {},
                "user_attrs": {},
                "system_attrs": {},
                "intermediate": {},
            },
        )
        if op == "param":
            trial["params"][ack["name"]] = ack["value"]
        elif op == "attr":
            trial[f"{ack['kind']}_attrs"][ack["key"]] = ack["value"]
        elif op == "report":
            trial["intermediate"][str(ack["step"])] = ack["value"]
        elif op == "state":
            trial["state"], trial["values"] = ack["state"], ack["values"]
    return record


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """What of ``want`` (from :func:`expected`) is missing or different in ``got``."""
    found = []
    for kind in ("user_attrs", "system_attrs"):
        for key, value in want[kind].items():
            have = got[kind].get(key, "missing")
            if have != value:
                found.append(f"study {kind[:-6]} attribute {key!r}: {have!r}, wrote {value!r}")
    for number, trial in want["trials"].items():
        have = got["trials"].get(number)
        if have is None:
            found.append(f"trial {number} is missing")
            continue
        if (have["state"], have["values"]) != (trial["state"], trial["values"]):
            found.append(
                f"trial {number} is {have['state']} {have['values']}, "
                f"expected {trial['state']} {trial['values']}"
            )
        for field in ("params", "user_attrs", "system_attrs", "intermediate"):
            for key, value in trial[field].items():
                if have[field].get(key, "<missing>") != value:
                    found.append(
                        f"trial {number} {field} {key!r}: "
                        f"{have[field].get(key, 'missing')!r}, wrote {value!r}"
                    )
    return found
