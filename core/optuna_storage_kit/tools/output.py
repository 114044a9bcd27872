"""How the tools write: tables that never fold when piped, progress that fits the stream.

* :func:`console` gives a rich console for one command. On a terminal it has the terminal's
  width; off one (a pipe, a file) it is wide enough that no table cell is folded into
  fragments, so ``osk info URL | grep name`` finds whole rows whatever ``COLUMNS`` says.
* :class:`Progress` shows a rich progress bar on a terminal and plain lines off one: a line
  when a task starts and one when it ends, no control codes and no redrawn fragments.
  Progress goes to standard error, so the results on standard output stay clean.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PIPED_WIDTH", "Progress", "console", "interactive", "progress"]

PIPED_WIDTH = 100_000
"""The width of a console that is not a terminal: wider than any row we print."""


def console(stderr: bool = False) -> Console:
    """A console for one command on standard output (or error); see the module docstring."""
    from rich.console import Console

    made = Console(stderr=stderr)
    if made.is_terminal:
        return made
    return Console(stderr=stderr, width=PIPED_WIDTH)


def interactive(out: Console) -> bool:
    """Whether ``out`` is a terminal that can redraw a progress bar."""
    return out.is_terminal and not out.is_dumb_terminal


class Progress:
    """Progress of a run made of tasks (a study to copy, a storage to measure).

    Use it through :func:`progress`. :meth:`start` begins a task (ending the previous one),
    :meth:`step` says what it does now, :meth:`advance` moves it, :meth:`finish` ends it.
    """

    def __init__(self, out: Console) -> None:
        self._out = out
        self._bar: Any = None
        self._task: Any = None
        self._plain: tuple[str, float, float | None] | None = None
        self._done = 0.0

    def start(self, description: str, total: float | None, unit: str = "steps") -> None:
        """Begin a task of ``total`` steps (``None``: unknown), counted in ``unit``."""
        self.finish()
        if self._bar is not None:
            self._task = self._bar.add_task(description, total=total)
            return
        size = f" ({total:g} {unit})" if total is not None else ""
        self._out.print(f"{description}{size} ...", markup=False, highlight=False, soft_wrap=True)
        self._plain = (description, time.perf_counter(), total)
        self._done = 0.0

    def step(self, description: str) -> None:
        """Say what the current task does now (a new line off a terminal)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=description)
        else:
            self._out.print(f"  {description}", markup=False, highlight=False, soft_wrap=True)

    def advance(self, steps: float = 1) -> None:
        """Move the current task ``steps`` forward."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, steps)
        else:
            self._done += steps

    def abandon(self) -> None:
        """Drop the current task without a line saying it is done (it failed)."""
        self._plain = None

    def finish(self) -> None:
        """End the current task, if any (a plain line says how long it took)."""
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
                self._task = None
            return
        if self._plain is None:
            return
        description, began, total = self._plain
        count = f"{self._done:g}/{total:g} " if total is not None else ""
        self._out.print(
            f"{description}: {count}done in {time.perf_counter() - began:.2f} s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        self._plain = None


@contextmanager
def progress(out: Console | None = None) -> Iterator[Progress]:
    """A :class:`Progress` on ``out`` (default: standard error): a bar on a terminal."""
    out = out or console(stderr=True)
    reporter = Progress(out)
    if not interactive(out):
        try:
            yield reporter
        except BaseException:
            reporter.abandon()
            raise
        reporter.finish()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        reporter._bar = bar
        yield reporter
