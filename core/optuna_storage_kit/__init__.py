"""optuna-storage-kit: pluggable, certified storage backends for Optuna.

>>> import optuna
>>> study = optuna.create_study(storage="optuna+memory://")

Installing the kit is enough: a ``.pth`` file teaches Optuna ``optuna+`` URLs when Optuna is
imported (see :mod:`optuna_storage_kit._activation`); ``import optuna_storage_kit`` does the
same where that file does not run. See :func:`open_storage` for URLs and options, and
:mod:`optuna_storage_kit.spec.hookspecs` for writing a backend.

Every public name below is imported on first use, so that importing the package (which the
``.pth`` file does at each interpreter start) costs next to nothing.
"""

from optuna_storage_kit import _activation

TYPE_CHECKING = False
if TYPE_CHECKING:
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
        SYNC_OPTION_NAME,
        Option,
        resolve_options,
        sync_option,
    )
    from optuna_storage_kit.toolkit.heartbeat import HeartbeatSettings

    __version__: str

__all__ = [
    "HEARTBEAT_OPTIONS",
    "MAX_DEPTH",
    "MODE_OPTION",
    "SPEC_VERSION",
    "SYNC_OPTION_NAME",
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
    "sync_option",
]

_ERRORS = "optuna_storage_kit.errors"
# public name -> (module, attribute in it; None for the module itself)
_LAZY = {
    "errors": (_ERRORS, None),
    "BackendUnavailableError": (_ERRORS, "BackendUnavailableError"),
    "DuplicateSchemeError": (_ERRORS, "DuplicateSchemeError"),
    "IncompatiblePluginError": (_ERRORS, "IncompatiblePluginError"),
    "InvalidOptionError": (_ERRORS, "InvalidOptionError"),
    "InvalidURLError": (_ERRORS, "InvalidURLError"),
    "NoSuchBackendError": (_ERRORS, "NoSuchBackendError"),
    "PluginError": (_ERRORS, "PluginError"),
    "ReadOnlyStorageError": (_ERRORS, "ReadOnlyStorageError"),
    "SerializationError": (_ERRORS, "SerializationError"),
    "StorageKitError": (_ERRORS, "StorageKitError"),
    "StoreNotFoundError": (_ERRORS, "StoreNotFoundError"),
    "KitStorage": ("optuna_storage_kit.runtime.kit_storage", "KitStorage"),
    "open_storage": ("optuna_storage_kit.runtime.open", "open_storage"),
    "BrokenPlugin": ("optuna_storage_kit.runtime.registry", "BrokenPlugin"),
    "Registry": ("optuna_storage_kit.runtime.registry", "Registry"),
    "get_registry": ("optuna_storage_kit.runtime.registry", "get_registry"),
    "MAX_DEPTH": ("optuna_storage_kit.runtime.serialization", "MAX_DEPTH"),
    "check_attr": ("optuna_storage_kit.runtime.serialization", "check_attr"),
    "normalize_value": ("optuna_storage_kit.runtime.serialization", "normalize_value"),
    "StorageURL": ("optuna_storage_kit.runtime.urls", "StorageURL"),
    "mask_url": ("optuna_storage_kit.runtime.urls", "mask_url"),
    "hookspecs": ("optuna_storage_kit.spec.hookspecs", None),
    "SPEC_VERSION": ("optuna_storage_kit.spec.hookspecs", "SPEC_VERSION"),
    "hookimpl": ("optuna_storage_kit.spec.hookspecs", "hookimpl"),
    "Backend": ("optuna_storage_kit.spec.backend", "Backend"),
    "Capabilities": ("optuna_storage_kit.spec.capabilities", "Capabilities"),
    "HEARTBEAT_OPTIONS": ("optuna_storage_kit.spec.options", "HEARTBEAT_OPTIONS"),
    "MODE_OPTION": ("optuna_storage_kit.spec.options", "MODE_OPTION"),
    "Option": ("optuna_storage_kit.spec.options", "Option"),
    "resolve_options": ("optuna_storage_kit.spec.options", "resolve_options"),
    "SYNC_OPTION_NAME": ("optuna_storage_kit.spec.options", "SYNC_OPTION_NAME"),
    "sync_option": ("optuna_storage_kit.spec.options", "sync_option"),
    "HeartbeatSettings": ("optuna_storage_kit.toolkit.heartbeat", "HeartbeatSettings"),
}

if not TYPE_CHECKING:  # for type checkers every name is imported above
    _load = None

    def __getattr__(name):
        global _load
        if name == "__version__":
            globals()[name] = value = _version()
            return value
        if _load is None:  # imported on first use: this module runs at every interpreter start
            from optuna_storage_kit.toolkit.exports import lazy_exports

            _load, _ = lazy_exports(__name__, _LAZY)
        return _load(name)

    def __dir__():
        return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optuna-storage-kit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


_activation.activate()
