"""``osk copy``: copy studies between any two storages, then verify the copy.

What is copied is what :func:`optuna.copy_study` copies: the study's name, directions, user and
system attributes, and every trial (state, params with their distributions, values,
intermediate values, start and completion datetimes, user and system attributes). Each trial is
written with one ``create_new_trial(study_id, template_trial=...)`` call, so a backend writes it
in one operation instead of one per attribute. Heartbeats are not copied.

After copying, both sides are read back and compared field by field; a difference is an error
naming the study, trial and field, and the copy is removed.

Replacing a study (``overwrite``) never leaves the destination without a complete copy of it:
Optuna's storage API has no rename, so the study is copied under a temporary name
(``NAME.osk-copy-XXXXXXXX``) and verified while the old one stays; only then is the old one
deleted, the temporary copy copied to ``NAME`` and verified, and the temporary copy deleted. A
failure before the old study is deleted leaves it as it was; a failure after leaves the
verified temporary copy in place, and the error names it.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from optuna.distributions import distribution_to_json
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from optuna_storage_kit.errors import StorageKitError

__all__ = [
    "CopyIncompleteError",
    "CopyResult",
    "StudyExistsError",
    "VerificationError",
    "copy_studies",
    "plan",
    "verify_study",
]


class StudyExistsError(StorageKitError):
    """The destination already has a study of that name and ``overwrite`` was not given."""


class VerificationError(StorageKitError):
    """The copy read back differs from its source."""


class CopyIncompleteError(StorageKitError):
    """Replacing a study failed after the old one was deleted; the new copy is complete under
    a temporary name, which the message gives."""


@dataclasses.dataclass(frozen=True)
class CopyResult:
    """One copied study: its name and how many trials were copied and verified."""

    study_name: str
    trials: int
    directions: tuple[str, ...]


def plan(src: BaseStorage, dst: BaseStorage, names: Sequence[str], overwrite: bool) -> list[str]:
    """Return the study names to copy, checking everything before anything is written.

    Args:
        src: The source storage.
        dst: The destination storage.
        names: The studies to copy; empty means every study in ``src``.
        overwrite: Whether an existing destination study of the same name may be replaced.

    Raises:
        StorageKitError: A named study is not in ``src``, or ``src`` has no studies.
        StudyExistsError: A study exists in ``dst`` and ``overwrite`` is false.
    """
    available = [s.study_name for s in src.get_all_studies()]
    if not names:
        if not available:
            raise StorageKitError("the source has no studies; nothing to copy")
        names = available
    missing = [n for n in names if n not in available]
    if missing:
        raise StorageKitError(
            f"no study named {', '.join(map(repr, missing))} in the source; it has: "
            + (", ".join(map(repr, available)) or "no studies")
        )
    names = list(dict.fromkeys(names))
    existing = {s.study_name for s in dst.get_all_studies()}
    clashes = [n for n in names if n in existing]
    if clashes and not overwrite:
        raise StudyExistsError(
            f"the destination already has {', '.join(map(repr, clashes))}; nothing was copied. "
            "Pass --overwrite to replace them (each is replaced only once its new copy is "
            "verified), or choose the studies with --study"
        )
    return names


def copy_studies(
    src: BaseStorage,
    dst: BaseStorage,
    names: Sequence[str],
    *,
    overwrite: bool = False,
    on_trial: Callable[[], None] | None = None,
    on_study: Callable[[str, int], None] | None = None,
) -> list[CopyResult]:
    """Copy the studies ``names`` (all when empty) from ``src`` to ``dst`` and verify them.

    Args:
        src: The source storage.
        dst: The destination storage.
        names: Study names; empty means all.
        overwrite: Replace a destination study of the same name (see the module docstring:
            the old study stays until the new copy is verified).
        on_trial: Called after each trial is written (for a progress bar).
        on_study: Called with ``(name, n_trials)`` before a study is copied.

    Returns:
        One :class:`CopyResult` per study, in order.

    Raises:
        StudyExistsError: See :func:`plan`; raised before anything is written.
        VerificationError: A copied study reads back differently from its source (the copy
            is removed; a study it was to replace is left as it was).
        CopyIncompleteError: Replacing failed after the old study was deleted; names the
            temporary study that holds the complete copy.
    """
    results = []
    for name in plan(src, dst, names, overwrite):
        src_id = src.get_study_id_from_name(name)
        trials = src.get_all_trials(src_id, deepcopy=False)
        if on_study is not None:
            on_study(name, len(trials))
        if overwrite and _has_study(dst, name):
            _replace(src, src_id, dst, name, trials, on_trial)
        else:
            _copy_verified(src, src_id, dst, name, trials, on_trial)
        directions = tuple(d.name.lower() for d in src.get_study_directions(src_id))
        results.append(CopyResult(name, len(trials), directions))
    return results


def _has_study(storage: BaseStorage, name: str) -> bool:
    return name in {s.study_name for s in storage.get_all_studies()}


def _replace(
    src: BaseStorage,
    src_id: int,
    dst: BaseStorage,
    name: str,
    trials: list[FrozenTrial],
    on_trial: Callable[[], None] | None,
) -> int:
    """Replace ``name`` in ``dst``, keeping a complete copy of it at every moment."""
    temporary = f"{name}.osk-copy-{uuid.uuid4().hex[:8]}"
    while _has_study(dst, temporary):  # pragma: no cover - a clash of 32 random bits
        temporary = f"{name}.osk-copy-{uuid.uuid4().hex[:8]}"
    temporary_id = _copy_verified(src, src_id, dst, temporary, trials, on_trial)
    dst.delete_study(dst.get_study_id_from_name(name))
    try:
        copied = dst.get_all_trials(temporary_id, deepcopy=False)
        final_id = _copy_verified(dst, temporary_id, dst, name, copied, None)
    except Exception as err:
        raise CopyIncompleteError(
            f"replacing study {name!r} failed after its old copy was deleted: "
            f"{type(err).__name__}: {err}. The new copy is complete and verified in the "
            f"destination as study {temporary!r}; copy it to {name!r} (osk copy DST OTHER "
            f"--study {temporary!r}) or run the copy again"
        ) from err
    dst.delete_study(temporary_id)
    return final_id


def _copy_verified(
    src: BaseStorage,
    src_id: int,
    dst: BaseStorage,
    name: str,
    trials: list[FrozenTrial],
    on_trial: Callable[[], None] | None,
) -> int:
    """Copy one study as ``name`` and verify it; on any failure no study ``name`` is left."""
    dst_id = _copy_one(src, dst, src_id, name, trials, on_trial)
    try:
        verify_study(src, src_id, dst, dst_id)
    except BaseException:
        dst.delete_study(dst_id)
        raise
    return dst_id


def _copy_one(
    src: BaseStorage,
    dst: BaseStorage,
    src_id: int,
    name: str,
    trials: list[FrozenTrial],
    on_trial: Callable[[], None] | None,
) -> int:
    dst_id = dst.create_new_study(src.get_study_directions(src_id), name)
    try:
        for key, value in src.get_study_system_attrs(src_id).items():
            dst.set_study_system_attr(dst_id, key, value)
        for key, value in src.get_study_user_attrs(src_id).items():
            dst.set_study_user_attr(dst_id, key, value)
        for trial in sorted(trials, key=lambda t: t.number):
            dst.create_new_trial(dst_id, template_trial=trial)
            if on_trial is not None:
                on_trial()
    except BaseException:
        # Leave the destination as it was: remove the half-written study we created.
        dst.delete_study(dst_id)
        raise
    return dst_id


def verify_study(src: BaseStorage, src_id: int, dst: BaseStorage, dst_id: int) -> None:
    """Compare a study in two storages field by field.

    Raises:
        VerificationError: Names the study, the trial number and the first differing field.
    """
    name = src.get_study_name_from_id(src_id)
    left, right = _fingerprint(src, src_id), _fingerprint(dst, dst_id)
    for field in ("directions", "user_attrs", "system_attrs", "n_trials"):
        if left[field] != right[field]:
            raise VerificationError(
                f"study {name!r}: {field} differ after copying: source {left[field]}, "
                f"destination {right[field]}"
            )
    for a, b in zip(left["trials"], right["trials"], strict=True):
        for field, value in a.items():
            if value != b[field]:
                raise VerificationError(
                    f"study {name!r}, trial {a['number']}: {field} differ after copying: "
                    f"source {value}, destination {b[field]}"
                )


def _canonical(value: Any) -> str:
    """One text per value as JSON sees it, so tuples equal lists and nan equals nan."""
    return json.dumps(value, sort_keys=True, default=repr)


def _fingerprint(storage: BaseStorage, study_id: int) -> dict[str, Any]:
    trials = sorted(storage.get_all_trials(study_id, deepcopy=False), key=lambda t: t.number)
    directions: list[StudyDirection] = storage.get_study_directions(study_id)
    return {
        "directions": [d.name for d in directions],
        "user_attrs": _canonical(storage.get_study_user_attrs(study_id)),
        "system_attrs": _canonical(storage.get_study_system_attrs(study_id)),
        "n_trials": len(trials),
        "trials": [_trial_fingerprint(t) for t in trials],
    }


def _trial_fingerprint(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": _canonical(trial.values),
        "params": _canonical(trial.params),
        "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
        "intermediate_values": _canonical(
            {str(k): v for k, v in sorted(trial.intermediate_values.items())}
        ),
        "datetime_start": _when(trial.datetime_start),
        "datetime_complete": _when(trial.datetime_complete),
        "user_attrs": _canonical(trial.user_attrs),
        "system_attrs": _canonical(trial.system_attrs),
    }


def _when(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()
