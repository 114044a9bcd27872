"""Let Optuna, Optuna's CLI and optuna-dashboard accept ``optuna+<scheme>://`` strings.

Each place that turns a storage string into a storage is wrapped so that strings starting with
``optuna+`` are opened by :func:`~optuna_storage_kit.open_storage`; every other argument
reaches the original function untouched, so Optuna's own URLs behave exactly as before:

* ``optuna.storages.get_storage(storage)``: ``create_study``, ``load_study``,
  ``delete_study``, ``copy_study``, ``get_all_study_summaries``, ``get_all_study_names``.
* ``optuna.cli._get_storage(storage_url, storage_class)``: the ``optuna`` commands that take
  ``--storage``; and ``optuna.cli._StorageUpgrade.take_action``, which answers that
  ``optuna storage upgrade`` does not apply to ``optuna+`` URLs.
* ``optuna_dashboard._storage_url.guess_storage_from_url(storage_url)``: ``optuna-dashboard
  URL`` and ``optuna_dashboard.run_server(URL)``.

The last three are private functions. Each is wrapped only if its signature is the one tested
(:data:`TESTED_VERSIONS` names the versions); otherwise the wrapping steps aside with a debug
log line, and that tool keeps refusing ``optuna+`` URLs as it did. Called by
:mod:`optuna_storage_kit._activation` right after the module is imported; the wrappers import the
rest of the kit on their first ``optuna+`` string.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeGuard

from optuna_storage_kit.runtime.urls import PREFIX

__all__ = ["TESTED_VERSIONS", "install", "patch", "wrapped"]

_logger = logging.getLogger("optuna_storage_kit")

TESTED_VERSIONS = {"optuna": ">=5.0,<6", "optuna-dashboard": ">=0.21,<1"}
"""The releases whose private functions were read and tested (Optuna 5.0.0, optuna-dashboard
0.21.0). Every release is wrapped only if the signature matches, whatever its version;
``core/tests/test_optuna_hook.py`` fails when the installed version is outside these, so that
someone reads the functions again."""

_UPGRADE_ANSWER = (
    "'optuna storage upgrade' does not apply to optuna+ URLs: an optuna-storage-kit backend "
    "checks the format of its store when it opens it, so there is nothing to upgrade; nothing "
    "was changed. To upgrade a database that Optuna's RDBStorage wrote, give Optuna's own URL "
    "(e.g. sqlite:///x.db)."
)


def patch(name: str, module: ModuleType) -> None:
    """Wrap the storage-string function of ``module`` (one of ``_activation.TARGETS``)."""
    _PATCHERS[name](module)


def install() -> None:
    """Import ``optuna.storages`` and patch every target imported so far; idempotent."""
    import optuna.storages  # noqa: F401

    from optuna_storage_kit import _activation

    _activation.activate()


def _is_kit_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(PREFIX)


def _open(url: str) -> Any:
    from optuna_storage_kit.runtime.open import open_storage

    return open_storage(url)


def _wrap(
    owner: object,
    attribute: str,
    parameters: tuple[str, ...],
    make: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Replace ``owner.attribute`` by ``make(original)`` if its parameters are ``parameters``."""
    where = f"{getattr(owner, '__name__', owner)}.{attribute}"
    original = getattr(owner, attribute, None)
    if original is None:
        _logger.debug("%s not found: optuna+ URLs are not taught there", where)
        return
    if getattr(original, "__osk_wrapped__", False):
        return
    found = tuple(inspect.signature(original).parameters)
    if found != parameters:
        _logger.debug(
            "%s takes (%s), not (%s) as in the tested versions %s: optuna+ URLs are not "
            "taught there",
            where,
            ", ".join(found),
            ", ".join(parameters),
            TESTED_VERSIONS,
        )
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.__osk_wrapped__ = True  # type: ignore[attr-defined]
    setattr(owner, attribute, wrapper)


def _patch_storages(module: ModuleType) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def get_storage(storage: Any) -> Any:
            if _is_kit_url(storage):
                return _open(storage)
            return original(storage)

        return get_storage

    _wrap(module, "get_storage", ("storage",), make)


def _patch_cli(module: ModuleType) -> None:
    def make_get_storage(original: Callable[..., Any]) -> Callable[..., Any]:
        def _get_storage(storage_url: str | None, storage_class: str | None) -> Any:
            url = storage_url if storage_url is not None else os.environ.get("OPTUNA_STORAGE")
            if not _is_kit_url(url):
                return original(storage_url, storage_class)
            from optuna.exceptions import CLIUsageError

            from optuna_storage_kit.errors import StorageKitError

            if storage_class:
                raise CLIUsageError(
                    f"--storage-class {storage_class} does not apply to optuna+ URLs: the "
                    "scheme after 'optuna+' picks the backend; drop --storage-class"
                )
            try:
                return _open(url)
            except StorageKitError as err:
                raise CLIUsageError(str(err)) from None

        return _get_storage

    def make_upgrade(original: Callable[..., Any]) -> Callable[..., Any]:
        def take_action(self: Any, parsed_args: Any) -> Any:
            url = getattr(parsed_args, "storage", None) or os.environ.get("OPTUNA_STORAGE")
            if not _is_kit_url(url):
                return original(self, parsed_args)
            logging.getLogger("optuna.cli").warning(_UPGRADE_ANSWER)
            return 0

        return take_action

    _wrap(module, "_get_storage", ("storage_url", "storage_class"), make_get_storage)
    upgrade = getattr(module, "_StorageUpgrade", None)
    if upgrade is None:
        _logger.debug("optuna.cli._StorageUpgrade not found: storage upgrade is left as it was")
        return
    _wrap(upgrade, "take_action", ("self", "parsed_args"), make_upgrade)


def _patch_dashboard(module: ModuleType) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def guess_storage_from_url(storage_url: str) -> Any:
            if _is_kit_url(storage_url):
                return _open(storage_url)
            return original(storage_url)

        return guess_storage_from_url

    _wrap(module, "guess_storage_from_url", ("storage_url",), make)


_PATCHERS: dict[str, Callable[[ModuleType], None]] = {
    "optuna.storages": _patch_storages,
    "optuna.cli": _patch_cli,
    "optuna_dashboard._storage_url": _patch_dashboard,
}


def wrapped(name: str) -> list[str]:
    """The wrapped functions of the imported target ``name``, for diagnostics and tests."""
    module = sys.modules.get(name)
    if module is None:
        return []
    owners: list[tuple[str, object]] = [(name, module)]
    upgrade = getattr(module, "_StorageUpgrade", None)
    if upgrade is not None:
        owners.append((f"{name}._StorageUpgrade", upgrade))
    return sorted(
        f"{prefix}.{attr}"
        for prefix, owner in owners
        for attr, value in vars(owner).items()
        if getattr(value, "__osk_wrapped__", False)
    )
