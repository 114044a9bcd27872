"""Append-only file journal backend for optuna-storage-kit: ``optuna+journal:///path.log``.

The file is in the exact format of Optuna's ``JournalStorage`` with ``JournalFileBackend``, so
both can read and write it. See :class:`JournalFileStorage`.

The names below are imported on first use: the registry imports this package to read its
plugin module, and users of other backends should not pay for this one.
"""

from optuna_storage_kit.toolkit.exports import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from osk_journal._errors import (
        JournalCorruptError,
        JournalRecoveryError,
        JournalSyncError,
        JournalTruncatedError,
        JournalWriteError,
        TornLineWarning,
    )
    from osk_journal._plugin import __version__
    from osk_journal._storage import JournalFileStorage

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

_ERRORS = "osk_journal._errors"
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **{name: (_ERRORS, name) for name in __all__ if name.endswith(("Error", "Warning"))},
        "JournalFileStorage": ("osk_journal._storage", "JournalFileStorage"),
        "__version__": ("osk_journal._plugin", "__version__"),
    },
)
