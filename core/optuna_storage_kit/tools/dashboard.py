"""``osk dashboard``: optuna-dashboard on any storage the tools open."""

from __future__ import annotations

from typing import Any

from optuna_storage_kit.errors import StorageKitError
from optuna_storage_kit.tools.locations import open_any

__all__ = ["serve"]


def _run_server() -> Any:
    try:
        from optuna_dashboard import run_server  # type: ignore[import-untyped]
    except ImportError:
        raise StorageKitError(
            "osk dashboard needs optuna-dashboard, which is not installed. Install it with: "
            'pip install "optuna-storage-kit[dashboard]"'
        ) from None
    return run_server


def serve(location: str, *, host: str, port: int) -> None:
    """Open ``location`` and serve optuna-dashboard on ``host:port`` until interrupted.

    Args:
        location: A URL or journal file path (see :mod:`optuna_storage_kit.tools.locations`);
            a SQLite or journal file must exist.
        host: The address to bind, e.g. ``127.0.0.1``.
        port: The TCP port.

    Raises:
        StorageKitError: optuna-dashboard is missing (names the extra) or the storage cannot
            be opened.
    """
    run_server = _run_server()
    storage = open_any(location, must_exist=True)
    run_server(storage, host=host, port=port)
