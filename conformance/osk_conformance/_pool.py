"""Worker processes shared by the tests that run several processes on one study."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from pathlib import Path
from types import TracebackType
from typing import Any

from osk_conformance._workers import optimize_in_process

__all__ = ["ProcessPool"]


def _warm() -> int:
    import optuna  # noqa: F401 - import once per worker, before any timed work

    return 0


class ProcessPool:
    """``size`` spawned processes (started once: importing Optuna is slow) and a barrier."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._context = multiprocessing.get_context("spawn")
        self._manager = self._context.Manager()
        self._pool = concurrent.futures.ProcessPoolExecutor(size, mp_context=self._context)
        self._barrier = self._manager.Barrier(size)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._manager.shutdown()

    def optimize(
        self, spec: str, directory: Path, study: str, n_trials: int, seconds: float = 0.0
    ) -> list[dict[str, Any]]:
        """Run ``n_trials`` in each of the processes at once (they start together)."""
        self._barrier.reset()
        futures = [
            self._pool.submit(
                optimize_in_process, spec, str(directory), study, n_trials, self._barrier, seconds
            )
            for _ in range(self.size)
        ]
        return [f.result() for f in futures]
