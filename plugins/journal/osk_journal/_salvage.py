"""Which records of a damaged journal can be kept: the analysis behind ``osk journal recover``.

Every complete line is read as Optuna reads it (``json.loads``) and checked for the shape of a
record (:func:`osk_journal._records.problem`); lines that fail are skipped. The others are
replayed in order with the backend's replayer (:class:`~osk_journal._state.JournalState`).

Skipping a line can change what later records mean: study and trial ids are not stored but
follow from the order of the records, so a lost ``CREATE_TRIAL`` shifts the id of every later
trial, and a lost state change leaves a trial running that later records expected finished.
So, from the first skipped line on, a record that refers to a study or trial that no kept
record created, or that would change a trial a kept record finished, makes the result
*inconsistent*: :attr:`Salvage.conflict` says which, and recovery refuses. Records before the
first skipped line are replayed exactly as they always were (Optuna's replay skips those that
do not apply, such as a duplicate study name, and so does ours).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

from optuna.storages.journal._storage import JournalOperation as Op

from optuna_storage_kit.toolkit.trials import FINISHED_VALUES as FINISHED
from optuna_storage_kit.toolkit.trials import gc_paused
from osk_journal._format import loads
from osk_journal._records import STUDY_OPS, TRIAL_OPS, problem
from osk_journal._state import JournalState

__all__ = ["Conflict", "Salvage", "Skipped", "analyze"]

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Consecutive complete lines that are not records: bytes ``start`` to ``end - 1``."""

    start: int
    end: int
    first_line: int
    """1-based line number of the first of them."""
    lines: int
    reason: str
    """Why the first of them is not a record."""

    def describe(self) -> str:
        where = (
            f"line {self.first_line}"
            if self.lines == 1
            else f"lines {self.first_line}-{self.first_line + self.lines - 1}"
        )
        what = "1 bad line" if self.lines == 1 else f"{self.lines} bad lines"
        return (
            f"skipped {what} at bytes {self.start}-{self.end - 1} "
            f"({self.end - self.start} bytes, {where}): {self.reason}"
        )


@dataclasses.dataclass(frozen=True)
class Conflict:
    """An intact record that would not replay consistently once the skipped lines are gone."""

    offset: int
    line: int
    reason: str


@dataclasses.dataclass
class Salvage:
    """What a journal holds: its records, the lines to skip, a torn tail, a conflict."""

    size: int
    """Bytes in the file when it was read."""
    state: JournalState
    """The replayed state of the kept records (up to the conflict, if any)."""
    kept: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    """Byte ranges ``[start, end)`` of the kept records, in order, adjacent ones merged."""
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    torn: tuple[int, int] | None = None
    """``[start, end)`` of a partial last line (no ``\\n``): a writer killed mid-append."""
    conflict: Conflict | None = None
    lines: int = 0
    """Complete lines read."""

    @property
    def n_kept(self) -> int:
        return self.state.n_ops

    @property
    def n_skipped(self) -> int:
        return sum(s.lines for s in self.skipped)

    @property
    def first_change(self) -> int | None:
        """Offset of the first byte that recovery would remove (``None``: nothing to do)."""
        if self.skipped:
            return self.skipped[0].start
        return self.torn[0] if self.torn else None

    @property
    def kept_bytes(self) -> int:
        return sum(end - start for start, end in self.kept)


def analyze(fd: int, *, stop_at_first_bad: bool = False) -> Salvage:
    """Read the journal open as ``fd`` from the start and decide what to keep.

    Args:
        fd: The journal, open for reading.
        stop_at_first_bad: Keep only the records before the first bad line (what a plain
            truncation keeps), ignoring everything after it.
    """
    size = os.fstat(fd).st_size
    salvage = Salvage(size=size, state=JournalState())
    with gc_paused():
        offset = 0
        for line in _lines(fd, size):
            if not line.endswith(b"\n"):
                salvage.torn = (offset, offset + len(line))
                break
            salvage.lines += 1
            if stop_at_first_bad and salvage.skipped:
                _skip(salvage, offset, len(line), "")  # joins the first bad line's range
            elif not _take(salvage, line, offset):
                break
            offset += len(line)
    return salvage


def _take(salvage: Salvage, line: bytes, offset: int) -> bool:
    """Classify one complete line; return ``False`` to stop (a conflict)."""
    state = salvage.state
    try:
        record = loads(line)
    except ValueError as err:
        reason: str | None = f"not a JSON record ({err})"
    else:
        reason = problem(record)
    if reason is None and salvage.skipped:
        clash = _conflict(state, record)
        if clash is not None:
            salvage.conflict = Conflict(offset, salvage.lines, clash)
            return False
    if reason is None:
        try:
            state.apply(record)
        except Exception as err:  # a shape problem() does not know: skip the record
            reason = f"not a valid journal record ({type(err).__name__}: {err})"
    if reason is not None:
        _skip(salvage, offset, len(line), reason)
        return True
    state.n_ops += 1
    state.offset = offset + len(line)
    kept = salvage.kept
    if kept and kept[-1][1] == offset:
        kept[-1] = (kept[-1][0], offset + len(line))
    else:
        kept.append((offset, offset + len(line)))
    return True


def _skip(salvage: Salvage, offset: int, length: int, reason: str) -> None:
    skipped = salvage.skipped
    last = skipped[-1] if skipped else None
    if last is not None and last.end == offset:
        skipped[-1] = dataclasses.replace(last, end=offset + length, lines=last.lines + 1)
    else:
        skipped.append(Skipped(offset, offset + length, salvage.lines, 1, reason))


def _conflict(state: JournalState, record: dict[str, object]) -> str | None:
    """Why ``record`` cannot follow the kept records consistently, or ``None``."""
    code = record["op_code"]
    if code == Op.CREATE_TRIAL or code in STUDY_OPS:
        study_id = record["study_id"]
        assert isinstance(study_id, int)
        if study_id >= state.next_study_id:
            return f"it refers to study id {study_id}, which no kept record creates"
    elif code in TRIAL_OPS:
        trial_id = record["trial_id"]
        assert isinstance(trial_id, int)
        if trial_id >= len(state.trials):
            return f"it refers to trial id {trial_id}, which no kept record creates"
        trial = state.trials[trial_id]
        if trial.state in FINISHED:
            return (
                f"it would change trial id {trial_id} (number {trial.number} of study id "
                f"{trial.study_id}), which a kept record already finished"
            )
    return None


def _lines(fd: int, size: int) -> Iterator[bytes]:
    """The lines of the first ``size`` bytes of ``fd``; the last one may lack its ``\\n``."""
    offset = 0
    rest = b""
    while offset < size:
        data = os.pread(fd, min(_CHUNK, size - offset), offset)
        if not data:  # the file shrank meanwhile
            break
        offset += len(data)
        data = rest + data if rest else data
        start = 0
        while True:
            end = data.find(b"\n", start) + 1
            if not end:
                break
            yield data[start:end]
            start = end
        rest = data[start:]
    if rest:
        yield rest
