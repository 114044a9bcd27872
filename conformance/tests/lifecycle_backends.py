"""Proof backends for the lifecycle category's inspection and full-disk rules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from broken_backends import JOURNAL_CAPS, _declare, _journal, _JournalFile, _ReadOnlyJournalFile
from optuna.storages import BaseStorage

import optuna_storage_kit as osk


class _CreatesWhenMissing(_ReadOnlyJournalFile):
    def __init__(self, path: str) -> None:
        if not os.path.exists(path):
            open(path, "ab").close()
        super().__init__(path)


@_declare(JOURNAL_CAPS)
def creates_store_when_read_only(directory: str, **options: Any) -> BaseStorage:
    """Lifecycle: opening a missing store with mode=ro creates an empty one."""
    return _journal(
        directory, options, "creates-store-when-read-only", read_only=_CreatesWhenMissing
    )


class _LeavesAFile(_ReadOnlyJournalFile):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        Path(path + "-opened").write_text(str(os.getpid()))  # the bug: a file left behind


@_declare(JOURNAL_CAPS)
def leaves_files_when_inspecting(directory: str, **options: Any) -> BaseStorage:
    """Lifecycle: mode=ro leaves a file next to the store (and fails in a read-only one)."""
    return _journal(directory, options, "leaves-files-when-inspecting", read_only=_LeavesAFile)


NO_READ_ONLY = osk.Capabilities(
    thread_safe=True, multi_process=True, persistent=True, durable=True
)


@_declare(NO_READ_ONLY)
def ignores_mode_option(directory: str, **options: Any) -> BaseStorage:
    """Lifecycle: does not claim read_only, yet takes mode=ro silently and opens for writing
    (creating the store)."""
    options.pop("mode", None)  # the bug
    return _journal(directory, options, "ignores-mode-option", NO_READ_ONLY)


class _Swallows(_JournalFile):
    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        try:
            super().append_logs(logs)
        except OSError:
            return  # the bug: the write the disk refused is acknowledged


@_declare(JOURNAL_CAPS)
def acknowledges_refused_writes(directory: str, **options: Any) -> BaseStorage:
    """Lifecycle: an append the full disk refused returns as if it were stored."""
    return _journal(directory, options, "acknowledges-refused-writes", file=_Swallows)
