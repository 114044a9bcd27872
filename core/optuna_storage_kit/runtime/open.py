"""``open_storage``: from a URL and options to a ready storage."""

from __future__ import annotations

import logging
from typing import Any

from optuna.storages import BaseStorage

from optuna_storage_kit.errors import PluginError, StorageKitError
from optuna_storage_kit.runtime.kit_storage import KitStorage
from optuna_storage_kit.runtime.registry import Registry, get_registry
from optuna_storage_kit.runtime.urls import StorageURL
from optuna_storage_kit.spec.options import resolve_options

__all__ = ["open_storage"]

_logger = logging.getLogger("optuna_storage_kit")


def open_storage(url: str | StorageURL, **options: Any) -> KitStorage:
    """Open the storage at ``url`` with the backend that serves its scheme.

    Works anywhere Optuna takes a storage object; after ``import optuna_storage_kit`` Optuna
    also accepts the URL string itself (``optuna.create_study(storage="optuna+sqlite:///x.db")``).

    Args:
        url: ``optuna+<scheme>://...``, e.g. ``optuna+sqlite:///study.db``,
            ``optuna+postgresql://user:pw@host/db``, ``optuna+journal:///study.log``,
            ``optuna+memory://``. Query parameters are options.
        **options: The backend's options (see ``osk backends --options``), e.g.
            ``heartbeat_interval=60``. An option may come from the URL or a keyword, not both.

    Returns:
        A :class:`~optuna.storages.BaseStorage` applying the shared serialization policy.

    Raises:
        InvalidURLError: ``url`` is not an ``optuna+<scheme>://`` URL.
        NoSuchBackendError: No installed backend serves the scheme (the message says what to
            install).
        InvalidOptionError: An option is unknown, mistyped or out of range (the message lists
            the valid ones).
    """
    return open_with(get_registry(), url, options)


def open_with(registry: Registry, url: str | StorageURL, options: dict[str, Any]) -> KitStorage:
    """:func:`open_storage` with an explicit registry."""
    parsed = StorageURL(url)
    backend = registry.backend_for(parsed.scheme)
    resolved = resolve_options(
        backend.all_options,
        parsed.query,
        options,
        backend=backend.name,
        heartbeat_supported=backend.capabilities.heartbeat,
    )
    bare = parsed.without_query()
    _logger.debug("opening %s with backend %s", bare, backend.name)
    password = bare.password
    try:
        inner = backend.open(bare, resolved)
    except Exception as err:
        if password and password in str(err):
            # Never let a driver's message carry the password out; drop the chained original.
            scrubbed = str(err).replace(password, "***")
            raise StorageKitError(
                f"backend {backend.name!r} failed to open {bare}: {type(err).__name__}: {scrubbed}"
            ) from None
        raise
    if not isinstance(inner, BaseStorage):
        raise PluginError(
            f"backend {backend.name!r} returned {type(inner).__name__} from open(), not an "
            "optuna.storages.BaseStorage; this is a bug in the backend"
        )
    return KitStorage(inner, backend=backend, url=bare, options=resolved)
