"""Let Optuna's own entry points accept ``optuna+<scheme>://`` strings.

Optuna resolves every ``storage=`` string through ``optuna.storages.get_storage``
(``create_study``, ``load_study``, ``delete_study``, ``copy_study``,
``get_all_study_summaries``, ``get_all_study_names``). Importing optuna_storage_kit wraps that one
function: strings starting with ``optuna+`` are opened by :func:`open_storage`; everything else
reaches Optuna's original function untouched, so Optuna's own URLs behave exactly as before.
"""

from __future__ import annotations

import functools
from typing import Any

import optuna.storages

from optuna_storage_kit.runtime.open import open_storage
from optuna_storage_kit.runtime.urls import PREFIX

__all__ = ["install"]


def install() -> None:
    """Wrap ``optuna.storages.get_storage`` once; calling again does nothing."""
    original = optuna.storages.get_storage
    if getattr(original, "__osk_wrapped__", False):
        return

    @functools.wraps(original)
    def get_storage(storage: Any) -> Any:
        if isinstance(storage, str) and storage.startswith(PREFIX):
            return open_storage(storage)
        return original(storage)

    get_storage.__osk_wrapped__ = True  # type: ignore[attr-defined]
    optuna.storages.get_storage = get_storage
