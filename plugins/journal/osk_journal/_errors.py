"""Errors and warnings of the journal backend."""

from __future__ import annotations

from optuna_storage_kit.errors import StorageKitError

__all__ = [
    "JournalCorruptError",
    "JournalRecoveryError",
    "JournalSyncError",
    "JournalTruncatedError",
    "JournalWriteError",
    "TornLineWarning",
]


class JournalCorruptError(StorageKitError):
    """A complete record in the middle of a journal cannot be read.

    Everything before :attr:`offset` is intact. ``osk journal recover PATH`` keeps every intact
    record, this side of the bad one and beyond it (saving the original file beside it), so
    the study can go on.

    Attributes:
        path: The journal file.
        offset: Byte offset of the first bad record.
        line: Its 1-based line number.
    """

    def __init__(self, path: str, offset: int, line: int, reason: str) -> None:
        super().__init__(
            f"journal {path!r} is corrupt at byte offset {offset} (line {line}): {reason}. "
            f"The {line - 1} records before it are intact; keep every intact record with "
            f"`osk journal recover {path}` (the original is saved as {path}.corrupt-<time>)"
        )
        self.path = path
        self.offset = offset
        self.line = line


class JournalRecoveryError(StorageKitError):
    """``osk journal recover`` refused: keeping the intact records after a bad one would
    replay into a different study (the bad one held a record they depend on). The journal is
    unchanged."""


class JournalWriteError(StorageKitError, OSError):
    """A record could not be appended (a full disk, an I/O error): nothing of it was stored.

    ``errno`` is the operating system's (``errno.ENOSPC`` for a full disk).
    """

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


class JournalSyncError(StorageKitError, OSError):
    """An fsync of the journal failed: what was written before it may not be on disk.

    Raised by the next write and by ``close()`` after a background fsync failed, and by a
    write whose own fsync failed; the storage then refuses writes until the store is opened
    again. ``errno`` is the operating system's.
    """

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


class JournalTruncatedError(StorageKitError):
    """The journal became shorter than what this process has already read."""


class TornLineWarning(UserWarning):
    """A partial last line, left by a writer that was killed mid-append, was removed."""
