"""``osk journal recover``: keep every intact record of a damaged journal, or refuse.

The journal is rewritten in place, under the writers' lock, after the original was copied to
``PATH.corrupt-<time>`` and that copy fsynced. The bytes before the first removed one are not
touched, so a process that read the journal up to its first bad record (where every reader
stops) still agrees with it. Side files that describe removed bytes are dropped: the snapshot
if it was made past the first change, heartbeat slots of trial ids no kept record creates.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time

from osk_journal._errors import JournalRecoveryError
from osk_journal._lock import make_lock
from osk_journal._salvage import Salvage, analyze
from osk_journal._snapshot import snapshot_path

__all__ = ["Recovery", "recover"]


@dataclasses.dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did (or, with ``dry_run``, would do)."""

    path: str
    salvage: Salvage
    backup: str | None
    """Where the original was saved; ``None`` if nothing was changed."""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return self.salvage.first_change is not None

    def summary(self) -> str:
        """A few lines: what was kept, every removed byte range, where the original is."""
        salvage = self.salvage
        if not self.changed:
            return f"{self.path}: {salvage.n_kept} records, intact; nothing to do"
        verb = "would keep" if self.dry_run else "kept"
        lines = [
            f"{self.path}: {verb} {salvage.n_kept} of {salvage.lines} complete lines "
            f"({salvage.kept_bytes} of {salvage.size} bytes)"
        ]
        lines += [f"  {s.describe()}" for s in salvage.skipped]
        if salvage.torn is not None:
            start, end = salvage.torn
            lines.append(
                f"  removed a partial last line at bytes {start}-{end - 1} ({end - start} "
                "bytes): a write cut short by a crash, never acknowledged"
            )
        if self.backup is not None:
            lines.append(f"  the original is saved as {self.backup}")
        return "\n".join(lines)


def recover(
    path: str, *, lock: str = "flock", truncate: bool = False, dry_run: bool = False
) -> Recovery:
    """Remove what is not an intact record from the journal at ``path``.

    Every intact record is kept when the kept records replay consistently (see
    :mod:`osk_journal._salvage`); otherwise nothing is changed and
    :class:`~osk_journal.JournalRecoveryError` says which record conflicts. A partial last
    line (a writer killed mid-append) is removed. Stop the journal's writers first.

    Args:
        path: The journal.
        lock: The lock its writers use (``flock``, ``symlink`` or ``open``).
        truncate: Keep only the records before the first bad line, dropping everything
            after it (for a journal whose intact records after it would not be consistent).
        dry_run: Only report what would be done; change nothing.

    Raises:
        JournalRecoveryError: Keeping the records after a bad line would make the journal
            inconsistent; the file is unchanged.
    """
    path = os.path.abspath(path)
    fd = os.open(path, (os.O_RDONLY if dry_run else os.O_RDWR) | os.O_CLOEXEC)
    try:
        guard = None if dry_run else make_lock(lock, path, 30.0)
        if guard is not None:
            guard.acquire(fd)
        try:
            salvage = analyze(fd, stop_at_first_bad=truncate)
            if salvage.conflict is not None:
                raise _refusal(path, salvage)
            if dry_run or salvage.first_change is None:
                return Recovery(path, salvage, None, dry_run)
            backup = _save_original(path, fd)
            _rewrite(fd, backup, salvage)
        finally:
            if guard is not None:
                guard.release(fd)
    finally:
        os.close(fd)
    first_change = salvage.first_change
    assert first_change is not None
    _drop_snapshot_beyond(snapshot_path(path), first_change)
    _forget_heartbeats_beyond(path + ".heartbeat", len(salvage.state.trials))
    return Recovery(path, salvage, backup)


def _refusal(path: str, salvage: Salvage) -> JournalRecoveryError:
    conflict = salvage.conflict
    assert conflict is not None
    skipped = "; ".join(s.describe() for s in salvage.skipped)
    return JournalRecoveryError(
        f"refusing to recover {path!r}: the intact record at byte offset {conflict.offset} "
        f"(line {conflict.line}) cannot be kept without the bad lines before it: "
        f"{conflict.reason} ({skipped}). The skipped bytes held a record later ones depend on, "
        "so keeping them would replay into a different study. The file is unchanged. To keep "
        f"only the records before the first bad line, run `osk journal recover --truncate "
        f"{path}` (the original is saved beside it)"
    )


def _save_original(path: str, fd: int) -> str:
    """Copy the journal to ``PATH.corrupt-<time>`` (a new file) and make the copy durable."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for attempt in range(1000):
        backup = f"{path}.corrupt-{stamp}" + (f"-{attempt}" if attempt else "")
        try:
            out = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            continue
        try:
            with open(fd, "rb", closefd=False) as source, open(out, "wb", closefd=False) as sink:
                source.seek(0)
                shutil.copyfileobj(source, sink)
            os.fsync(out)
        except BaseException:
            os.unlink(backup)
            raise
        finally:
            os.close(out)
        _fsync_directory(os.path.dirname(path))
        return backup
    raise JournalRecoveryError(f"cannot name a backup of {path!r}: too many {path}.corrupt-*")


def _rewrite(fd: int, backup: str, salvage: Salvage) -> None:
    """Write the kept ranges after the first change, read from the backup; cut the rest."""
    first_change = salvage.first_change
    assert first_change is not None
    cursor = first_change
    source = os.open(backup, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for start, end in salvage.kept:
            if end <= first_change:
                continue  # unchanged, already in place
            while start < end:
                data = os.pread(source, min(end - start, 1 << 20), start)
                os.pwrite(fd, data, cursor)
                start += len(data)
                cursor += len(data)
    finally:
        os.close(source)
    os.ftruncate(fd, cursor)
    os.fsync(fd)


def _fsync_directory(directory: str) -> None:
    dir_fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _forget_heartbeats_beyond(heartbeats: str, n_trials: int) -> None:
    """Trial ids past the kept records will be given to new trials: clear their slots."""
    if os.path.exists(heartbeats) and os.path.getsize(heartbeats) > 8 * n_trials:
        os.truncate(heartbeats, 8 * n_trials)


def _drop_snapshot_beyond(snapshot: str, offset: int) -> None:
    import json

    try:
        with open(snapshot, "rb") as f:
            if json.loads(f.read()).get("offset", 0) > offset:
                os.unlink(snapshot)
    except (OSError, ValueError):
        pass
