"""``osk info``: what a storage holds, read without changing anything.

The storage is opened read-only (:mod:`optuna_storage_kit.tools.read_only`): a mistyped path
is an error naming it, never a new empty store, and a database without Optuna's schema is
left as it was. Besides the studies and their trial counts by state, RUNNING trials are listed
with how long they have run and their last heartbeat, with the command that fails them when
their process is gone (``osk fail-trials``).
"""

from __future__ import annotations

import collections
import datetime
import shlex

from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table
from rich.text import Text

from optuna_storage_kit.runtime.kit_storage import KitStorage
from optuna_storage_kit.runtime.registry import get_registry
from optuna_storage_kit.tools.locations import Location, classify, open_any
from optuna_storage_kit.tools.running import RunningTrial, format_age, running_trials

__all__ = ["show"]

_LISTED_NUMBERS = 10
"""Up to this many RUNNING trials are named one by one in the suggested command."""


def show(location: str, out: Console) -> None:
    """Print what the storage at ``location`` holds (see the module docstring).

    Raises:
        StoreNotFoundError: The store does not exist.
        StorageKitError: It cannot be opened read-only.
    """
    loc = classify(location)
    storage = open_any(loc, read_only=True)
    _header(loc, storage, out)
    studies = storage.get_all_studies()
    if not studies:
        out.print("no studies")
        return
    table = Table(title=f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}")
    states = [s.name for s in TrialState]
    for column in ("study", "directions", "trials", *states, "best value"):
        table.add_column(column, overflow="fold")
    running: list[RunningTrial] = []
    for study in studies:
        trials = storage.get_all_trials(study._study_id, deepcopy=False)
        counts = collections.Counter(t.state.name for t in trials)
        table.add_row(
            Text(study.study_name),
            ", ".join(d.name.lower() for d in study.directions),
            str(len(trials)),
            *(str(counts.get(s, 0)) for s in states),
            _best_value(storage, study._study_id, study.directions),
        )
        if counts.get(TrialState.RUNNING.name):
            running += running_trials(storage, study._study_id, study.study_name)
    out.print(table)
    if running:
        _show_running(loc, running, out)


def _header(loc: Location, storage: BaseStorage, out: Console) -> None:
    _line(out, "storage", loc.shown)
    if isinstance(storage, KitStorage):
        backend = get_registry().backend_for(storage.url.scheme)
        _line(out, "backend", f"{backend.name} {backend.version}")
        if backend.describe is not None:
            for label, text in backend.describe(storage.inner).items():
                _line(out, label, text)
        opened = "read-only (mode=ro)" if storage.read_only else "as is (nothing is persisted)"
    else:
        _line(out, "backend", f"{loc.label}, Optuna's own")
        opened = "read-only"
    _line(out, "opened", opened)


def _line(out: Console, label: str, text: str) -> None:
    out.print(Text.assemble((label, "bold"), "  ", text))


def _best_value(storage: BaseStorage, study_id: int, directions: list[StudyDirection]) -> str:
    if len(directions) != 1:
        return "(multi-objective)"
    try:
        return f"{storage.get_best_trial(study_id).value:.6g}"
    except ValueError:
        return "-"


def _show_running(loc: Location, running: list[RunningTrial], out: Console) -> None:
    now = datetime.datetime.now()
    table = Table(title=f"{len(running)} RUNNING trial{'s' if len(running) != 1 else ''}")
    for column in ("study", "trial", "running since", "for", "last heartbeat"):
        table.add_column(column, overflow="fold")
    for trial in running:
        running_for = trial.running_for(now)
        table.add_row(
            Text(trial.study),
            str(trial.number),
            "-" if trial.started is None else trial.started.isoformat(sep=" ", timespec="seconds"),
            "-" if running_for is None else format_age(running_for),
            trial.last_heartbeat(),
        )
    out.print(table)
    out.print(
        "A trial whose process died stays RUNNING until something fails it. If the processes "
        "running these trials are gone, mark them FAIL (add --dry-run to see first):",
        soft_wrap=True,
    )
    by_study: dict[str, list[int]] = collections.defaultdict(list)
    for trial in running:
        by_study[trial.study].append(trial.number)
    for study, numbers in by_study.items():
        out.print(Text("  " + _fail_command(loc, study, numbers)), soft_wrap=True)
    out.print(
        "or fail every RUNNING trial without a sign of life (its last heartbeat or, without "
        "heartbeats, its start) for longer than a duration: --older-than 2h",
        soft_wrap=True,
    )


def _fail_command(loc: Location, study: str, numbers: list[int]) -> str:
    command = ["osk", "fail-trials", loc.shown, "--study", study]
    if len(numbers) <= _LISTED_NUMBERS:
        for number in numbers:
            command += ["--number", str(number)]
    else:
        command += ["--older-than", "2h"]
    return shlex.join(command)
