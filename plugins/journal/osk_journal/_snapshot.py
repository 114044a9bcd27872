"""Snapshots: the replayed state up to a byte offset, kept in ``PATH.snapshot`` beside the journal.

The journal itself is never rewritten, so Optuna's own reader keeps working on it. A snapshot is
used only if the journal still holds the bytes it was made from: it records the offset and SHA-256
digests of the first and the last (up to) 4 KiB before that offset, which are checked on load. A
snapshot that does not match (the journal was replaced, truncated, or recovered) is ignored and
the journal is replayed from the start. Snapshots are JSON, never pickle, so a file on a shared
file system cannot run code in the reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from typing import Any

import orjson

from optuna_storage_kit.toolkit.trials import FINISHED_VALUES as FINISHED
from osk_journal._format import loads
from osk_journal._state import JournalState, StudyRec, TrialRec

__all__ = ["load_snapshot", "save_snapshot", "snapshot_path"]

FORMAT = "osk-journal-snapshot/2"
_PROBE = 4096


def snapshot_path(path: str) -> str:
    return path + ".snapshot"


def _digests(fd: int, offset: int) -> tuple[str, str]:
    head = os.pread(fd, min(_PROBE, offset), 0)
    start = max(0, offset - _PROBE)
    tail = os.pread(fd, offset - start, start)
    return hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()


def save_snapshot(path: str, fd: int, state: JournalState) -> str:
    """Write the snapshot of ``state`` for the journal open as ``fd``, atomically."""
    head, tail = _digests(fd, state.offset)
    table: dict[str, int] = {}  # each distribution's JSON once; trials refer to it by index
    doc = {
        "format": FORMAT,
        "offset": state.offset,
        "n_ops": state.n_ops,
        "head_sha256": head,
        "tail_sha256": tail,
        "next_study_id": state.next_study_id,
        "finite": state.finite,
        "studies": [
            [
                sid,
                s.name,
                s.directions,
                s.user,
                s.system,
                s.trial_ids,
                {k: list(v) for k, v in s.first_param.items()},
                sid in state.studies,
            ]
            for sid, s in state.all_studies.items()
        ],
        "trials": [
            [
                t.study_id,
                t.number,
                t.state,
                t.params,
                {k: table.setdefault(v, len(table)) for k, v in t.dists.items()},
                t.user,
                t.system,
                t.values,
                list(t.inter.items()),
                t.start,
                t.complete,
            ]
            for t in state.trials
        ],
    }
    doc["distributions"] = list(table)
    target = snapshot_path(path)
    scratch = f"{target}.{uuid.uuid4().hex}.tmp"
    text = _dumps(doc, state.finite)
    # Not fsynced: a snapshot is only a cache of the journal, and one cut short by a power
    # loss is not valid JSON and is ignored. An fsync here took from 3 to over 100 ms under
    # the disk load of this machine, in the open or the append that writes the snapshot.
    with open(scratch, "wb") as f:
        f.write(text)
    os.replace(scratch, target)
    return target


def _dumps(doc: dict[str, Any], finite: bool) -> bytes:
    """orjson (3x faster) if it writes what json would: it writes NaN and infinities as null,
    and refuses integers beyond 64 bits and lone surrogates. json.dumps, never json.dump,
    which encodes in pure Python, 10x slower."""
    if finite:
        with contextlib.suppress(TypeError):
            return orjson.dumps(doc)
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def load_snapshot(path: str, fd: int, size: int) -> JournalState | None:
    """Return the state stored in ``PATH.snapshot`` if it matches the journal, else ``None``."""
    try:
        with open(snapshot_path(path), "rb") as f:
            doc = loads(f.read())
        if doc.get("format") != FORMAT or not 0 < doc["offset"] <= size:
            return None
        if _digests(fd, doc["offset"]) != (doc["head_sha256"], doc["tail_sha256"]):
            return None
        return _restore(doc)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _restore(doc: dict[str, Any]) -> JournalState:
    state = JournalState()
    state.offset = doc["offset"]
    state.n_ops = doc["n_ops"]
    state.next_study_id = doc["next_study_id"]
    state.finite = doc.get("finite") is True
    for sid, name, directions, user, system, trial_ids, first, live in doc["studies"]:
        study = StudyRec(name, directions)
        study.user, study.system, study.trial_ids = user, system, trial_ids
        study.first_param = {k: (v[0], v[1]) for k, v in first.items()}
        state.all_studies[sid] = study
        if live:
            state.studies[sid] = study
            state.name_to_id[name] = sid
    trials = state.trials
    table = doc["distributions"]
    for row in doc["trials"]:
        study_id, number, trial_state, params, dists, user, system, values, inter, start, end = row
        trial = TrialRec(study_id, number, trial_state)
        trial.params, trial.user, trial.system = params, user, system
        trial.dists = {k: table[v] for k, v in dists.items()}
        trial.values = values
        trial.inter = {int(k): v for k, v in inter}
        trial.start, trial.complete = start, end
        if trial_state not in FINISHED:
            state.all_studies[study_id].active[len(trials)] = None
        trials.append(trial)
    return state
