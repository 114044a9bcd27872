"""Append-only file journal backend for optuna-storage-kit: ``optuna+journal:///path.log``.

The file is in the exact format of Optuna's ``JournalStorage`` with ``JournalFileBackend``, so
both can read and write it. See :class:`JournalFileStorage`.
"""

from osk_journal._errors import (
    JournalCorruptError,
    JournalRecoveryError,
    JournalSyncError,
    JournalTruncatedError,
    JournalWriteError,
    TornLineWarning,
)
from osk_journal._storage import JournalFileStorage

__version__ = "0.1.0"

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
