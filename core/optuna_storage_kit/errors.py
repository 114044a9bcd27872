"""The exceptions optuna-storage-kit raises.

Every error derives from :class:`StorageKitError`. Messages name the thing that went wrong (a key
path, a URL with its password masked, a plugin) and say how to fix it. Exceptions that Optuna's
``BaseStorage`` contract promises (``KeyError``, ``DuplicatedStudyError``,
``UpdateFinishedTrialError``) are raised as those types, never wrapped in these.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "DuplicateSchemeError",
    "IncompatiblePluginError",
    "InvalidOptionError",
    "InvalidURLError",
    "NoSuchBackendError",
    "PluginError",
    "ReadOnlyStorageError",
    "SerializationError",
    "StorageKitError",
    "StoreNotFoundError",
]


class StorageKitError(Exception):
    """Root of every error raised by optuna-storage-kit itself."""


class InvalidURLError(StorageKitError, ValueError):
    """A storage URL could not be parsed or is not an ``optuna+<scheme>://`` URL."""


class NoSuchBackendError(StorageKitError, ValueError):
    """No installed backend serves the URL's scheme."""


class InvalidOptionError(StorageKitError, ValueError):
    """An option is unknown to the backend, has the wrong type, or is out of range."""


class ReadOnlyStorageError(StorageKitError, PermissionError):
    """A write was attempted through a storage opened read-only (``mode=ro``)."""


class StoreNotFoundError(StorageKitError, FileNotFoundError):
    """The store a URL names does not exist, and opening it was not meant to create it
    (``mode=ro``, or inspection with ``osk info``)."""


class SerializationError(StorageKitError, ValueError):
    """A value cannot be stored because it would not come back unchanged.

    Attributes:
        path: Where the offending value sits, e.g. ``"metrics['scores'][2]"``.
        type_name: The fully qualified type name of the offending value.
    """

    def __init__(self, message: str, *, path: str, type_name: str) -> None:
        super().__init__(message)
        self.path = path
        self.type_name = type_name


class PluginError(StorageKitError):
    """A plugin could not be loaded or registered."""


class IncompatiblePluginError(PluginError):
    """A plugin was built for a spec version this optuna-storage-kit does not implement."""


class DuplicateSchemeError(PluginError):
    """Two backends claim the same URL scheme."""


class BackendUnavailableError(PluginError):
    """The backend for a scheme is installed but failed to load."""
