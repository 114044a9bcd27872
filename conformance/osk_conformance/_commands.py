"""Adds ``osk certify`` to the ``osk`` command line (hook ``register_commands``)."""

from __future__ import annotations

from typing import Any

import optuna_storage_kit as osk

__all__ = ["register_commands"]


@osk.hookimpl
def register_commands(cli: Any) -> None:
    # Imported here: the registry loads this module whenever a storage is opened, and the
    # command (click, pytest) is needed only by the ``osk`` command line.
    from osk_conformance._cli import certify

    cli.add_command(certify)
