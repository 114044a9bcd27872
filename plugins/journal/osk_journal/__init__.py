"""Append-only file journal backend for optuna-storage-kit: ``optuna+journal:///path.log``.

The file is in the exact format of Optuna's ``JournalStorage`` with ``JournalFileBackend``, so
both can read and write it. See :class:`JournalFileStorage`.
"""

from importlib.metadata import PackageNotFoundError, version

from osk_journal._errors import (
    JournalCorruptError,
    JournalRecoveryError,
    JournalSyncError,
    JournalTruncatedError,
    JournalWriteError,
    TornLineWarning,
)
from osk_journal._storage import JournalFileStorage

try:
    __version__ = version("osk-journal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "JournalCorruptError",
    "JournalFileStorage",
    "JournalRecoveryError",
    "JournalSyncError",
    "JournalTruncatedError",
    "JournalWriteError",
    "TornLineWarning",
    "__version__",
]
