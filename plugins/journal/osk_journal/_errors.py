"""Errors and warnings of the journal backend."""

from __future__ import annotations

from optuna_storage_kit.errors import StorageKitError

__all__ = ["JournalCorruptError", "JournalTruncatedError", "TornLineWarning"]


class JournalCorruptError(StorageKitError):
    """A complete record in the middle of a journal cannot be read.

    Everything before :attr:`offset` is intact. ``osk journal recover PATH`` keeps that part
    (saving the original file beside it) so the study can go on.

    Attributes:
        path: The journal file.
        offset: Byte offset of the first bad record.
        line: Its 1-based line number.
    """

    def __init__(self, path: str, offset: int, line: int, reason: str) -> None:
        super().__init__(
            f"journal {path!r} is corrupt at byte offset {offset} (line {line}): {reason}. "
            f"The {line - 1} records before it are intact; keep them with "
            f"`osk journal recover {path}` (the original is saved as {path}.corrupt-<time>)"
        )
        self.path = path
        self.offset = offset
        self.line = line


class JournalTruncatedError(StorageKitError):
    """The journal became shorter than what this process has already read."""


class TornLineWarning(UserWarning):
    """A partial last line, left by a writer that was killed mid-append, was removed."""
