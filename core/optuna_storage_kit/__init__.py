"""optuna-storage-kit: pluggable, certified storage backends for Optuna.

>>> import optuna, optuna_storage_kit
>>> study = optuna.create_study(storage="optuna+memory://")

See :func:`open_storage` for URLs and options, and :mod:`optuna_storage_kit.spec.hookspecs` for
writing a backend.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from optuna_storage_kit import errors
from optuna_storage_kit.errors import (
    BackendUnavailableError,
    DuplicateSchemeError,
    IncompatiblePluginError,
    InvalidOptionError,
    InvalidURLError,
    NoSuchBackendError,
    PluginError,
    ReadOnlyStorageError,
    SerializationError,
    StorageKitError,
    StoreNotFoundError,
)
from optuna_storage_kit.runtime.kit_storage import KitStorage
from optuna_storage_kit.runtime.open import open_storage
from optuna_storage_kit.runtime.optuna_hook import install as _install_optuna_patch
from optuna_storage_kit.runtime.registry import BrokenPlugin, Registry, get_registry
from optuna_storage_kit.runtime.serialization import MAX_DEPTH, check_attr, normalize_value
from optuna_storage_kit.runtime.urls import StorageURL, mask_url
from optuna_storage_kit.spec import hookspecs
from optuna_storage_kit.spec.backend import Backend
from optuna_storage_kit.spec.capabilities import Capabilities
from optuna_storage_kit.spec.hookspecs import SPEC_VERSION, hookimpl
from optuna_storage_kit.spec.options import (
    HEARTBEAT_OPTIONS,
    MODE_OPTION,
    Option,
    resolve_options,
)
from optuna_storage_kit.toolkit.heartbeat import HeartbeatSettings

try:
    __version__ = version("optuna-storage-kit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "HEARTBEAT_OPTIONS",
    "MAX_DEPTH",
    "MODE_OPTION",
    "SPEC_VERSION",
    "Backend",
    "BackendUnavailableError",
    "BrokenPlugin",
    "Capabilities",
    "DuplicateSchemeError",
    "HeartbeatSettings",
    "IncompatiblePluginError",
    "InvalidOptionError",
    "InvalidURLError",
    "KitStorage",
    "NoSuchBackendError",
    "Option",
    "PluginError",
    "ReadOnlyStorageError",
    "Registry",
    "SerializationError",
    "StorageKitError",
    "StorageURL",
    "StoreNotFoundError",
    "__version__",
    "check_attr",
    "errors",
    "get_registry",
    "hookimpl",
    "hookspecs",
    "mask_url",
    "normalize_value",
    "open_storage",
    "resolve_options",
]

_install_optuna_patch()
