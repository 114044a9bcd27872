"""Errors and warnings of the journal backend."""

from __future__ import annotations

import errno as errnos

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


def write_error(path: str, err: OSError, offset: int, left: str) -> JournalWriteError:
    """The error for an append to the journal at ``path`` that failed with ``err``.

    Args:
        path: The journal.
        err: What ``write(2)`` raised.
        offset: Where the journal ends (the record was to start there).
        left: What the rollback left behind, as a clause starting with ``"; "`` (or ``""``).
    """
    if err.errno in (errnos.ENOSPC, errnos.EDQUOT):
        full = err.errno == errnos.ENOSPC
        cause = "the disk is full" if full else "the disk quota is exceeded"
        fix = "free space, then retry"
    else:
        cause, fix = f"{err.strerror or err} (errno {err.errno})", "retry once this is fixed"
    return JournalWriteError(
        f"cannot append to journal {path!r}: {cause}. Nothing of this write was stored (the "
        f"journal still ends at byte offset {offset}){left}; {fix}",
        err.errno,
    )


def sync_error(path: str, cause: OSError, interval: float | None) -> JournalSyncError:
    """The error for a failed fsync of the journal at ``path``.

    Args:
        path: The journal.
        cause: What ``fsync(2)`` raised.
        interval: The background fsync interval, or ``None`` for an fsync of one record.
    """
    name = errnos.errorcode.get(cause.errno or 0, str(cause.errno))
    window = (
        f"the records appended in the {interval:g} s before it"
        if interval is not None
        else "the record just appended"
    )
    return JournalSyncError(
        f"fsync of journal {path!r} failed ({cause.strerror or cause}, {name}): {window} "
        "may not be on disk and would be lost if the machine lost power. This storage "
        "refuses further writes; check the disk, then open the store again (what the file "
        "holds now is what readers see)",
        cause.errno,
    )
