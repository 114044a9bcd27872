"""``osk journal ...`` commands: compact (write a snapshot), recover, check."""

from __future__ import annotations

import os
import shutil
import time

import click

from osk_journal._errors import JournalCorruptError
from osk_journal._journal import Journal
from osk_journal._lock import LOCK_KINDS, make_lock
from osk_journal._snapshot import snapshot_path

__all__ = ["journal_group", "recover"]

_PATH = click.Path(exists=True, dir_okay=False, writable=True)


@click.group("journal")
def journal_group() -> None:
    """Maintain journal files (optuna+journal:// and Optuna's JournalFileBackend)."""


@journal_group.command("compact")
@click.argument("path", type=_PATH)
def compact(path: str) -> None:
    """Write PATH.snapshot so that opening PATH replays only what follows.

    The journal itself is not changed: Optuna's own reader keeps working on it.
    """
    try:
        journal = Journal(path, snapshot_every=0)
    except JournalCorruptError as err:
        raise click.ClickException(str(err)) from None
    try:
        target = journal.snapshot()
        state = journal.state
        click.echo(
            f"{target}: snapshot of {state.n_ops} records ({state.offset} bytes), "
            f"{len(state.studies)} studies, {len(state.trials)} trials"
        )
    finally:
        journal.close()


@journal_group.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def check(path: str) -> None:
    """Replay PATH from the start and report whether every record is readable."""
    try:
        journal = Journal(path, snapshot_every=0)
    except JournalCorruptError as err:
        raise click.ClickException(str(err)) from None
    state = journal.state
    size = os.fstat(journal.fd).st_size
    journal.close()
    torn = f"; a partial last line of {size - state.offset} bytes" if size > state.offset else ""
    click.echo(f"{path}: {state.n_ops} records, {state.offset} bytes, intact{torn}")


@journal_group.command("recover")
@click.argument("path", type=_PATH)
@click.option(
    "--lock",
    type=click.Choice(LOCK_KINDS),
    default="flock",
    show_default=True,
    help="The lock the journal's writers use.",
)
def recover_command(path: str, lock: str) -> None:
    """Keep the intact records before the first corrupt one; save the original beside PATH."""
    outcome = recover(path, lock=lock)
    click.echo(outcome)


def recover(path: str, *, lock: str = "flock") -> str:
    """Truncate ``path`` before its first corrupt record, keeping a copy of the original.

    Returns:
        A one-line summary of what was done.
    """
    path = os.path.abspath(path)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    guard = make_lock(lock, path, 30.0)
    guard.acquire(fd)
    try:
        try:
            journal = Journal(path, snapshot_every=0)
        except JournalCorruptError as err:
            offset, line = err.offset, err.line
        else:
            journal.close()
            return f"{path}: no corrupt record; nothing to do"
        backup = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
        shutil.copy2(path, backup)
        size = os.fstat(fd).st_size
        os.ftruncate(fd, offset)
        os.fsync(fd)
    finally:
        guard.release(fd)
        os.close(fd)
    _drop_if_beyond(snapshot_path(path), offset)
    kept = Journal(path, snapshot_every=0)
    n_trials = len(kept.state.trials)
    kept.close()
    _forget_heartbeats_beyond(path + ".heartbeat", n_trials)
    return (
        f"{path}: kept the {line - 1} records before byte offset {offset}; removed "
        f"{size - offset} bytes from the corrupt record on; the original is saved as {backup}"
    )


def _forget_heartbeats_beyond(heartbeats: str, n_trials: int) -> None:
    """Trial ids past the kept records will be given to new trials: clear their slots."""
    if os.path.exists(heartbeats) and os.path.getsize(heartbeats) > 8 * n_trials:
        os.truncate(heartbeats, 8 * n_trials)


def _drop_if_beyond(snapshot: str, offset: int) -> None:
    import json

    try:
        with open(snapshot, "rb") as f:
            if json.loads(f.read()).get("offset", 0) > offset:
                os.unlink(snapshot)
    except (OSError, ValueError):
        pass
