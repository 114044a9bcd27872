"""The one table of backend names in the core: what the extras of ``optuna-storage-kit`` serve.

The core names no backend in its logic (what differs per backend is a field of its
:class:`~optuna_storage_kit.Backend`). What it cannot learn from a backend that is not
installed is which extra to install for it: these tables say so, for install hints. A test
checks them against the extras the distribution declares.

Imports nothing: ``osk --help`` reads :data:`PLUGIN_COMMANDS`.
"""

from __future__ import annotations

__all__ = ["KNOWN_SCHEMES", "PLUGIN_COMMANDS"]

KNOWN_SCHEMES: dict[str, tuple[str, str]] = {
    "sqlite": ("osk-sqlite", "sqlite"),
    "postgresql": ("osk-postgres", "postgres"),
    "postgres": ("osk-postgres", "postgres"),
    "journal": ("osk-journal", "journal"),
}
"""URL scheme (after ``optuna+``) -> ``(distribution, extra)`` of the plugin we ship for it."""

PLUGIN_COMMANDS: dict[str, tuple[str, str]] = {
    "certify": ("osk-conformance", "conformance"),
    "journal": ("osk-journal", "journal"),
}
"""``osk`` command -> ``(distribution, extra)`` of the plugin we ship that adds it."""
