"""``osk journal ...`` commands: compact (write a snapshot), recover, check."""

from __future__ import annotations

import os

import click

from osk_journal._errors import JournalCorruptError, JournalRecoveryError
from osk_journal._journal import Journal
from osk_journal._lock import LOCK_KINDS
from osk_journal._recover import recover

__all__ = ["journal_group"]

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
    """Replay PATH from the start and report whether every record is readable.

    PATH is opened read-only: nothing is created or changed (a partial last line stays).
    """
    try:
        journal = Journal(path, inspect=True)
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
@click.option(
    "--truncate",
    is_flag=True,
    help="Keep only the records before the first bad line (when keeping those after it "
    "would be inconsistent).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be done; change nothing.")
def recover_command(path: str, lock: str, truncate: bool, dry_run: bool) -> None:
    """Keep every intact record of PATH; save the original as PATH.corrupt-<time>.

    Lines that are not records are removed, and so is a partial last line left by a crash.
    The intact records after a bad line are kept when they replay consistently without it;
    otherwise nothing is changed and the command fails, naming the record that conflicts.
    Stop the journal's writers first.
    """
    try:
        outcome = recover(path, lock=lock, truncate=truncate, dry_run=dry_run)
    except JournalRecoveryError as err:
        raise click.ClickException(str(err)) from None
    click.echo(outcome.summary())
