"""Adds ``osk certify`` to the ``osk`` command line (hook ``register_commands``)."""

from __future__ import annotations

from typing import Any

import optuna_storage_kit as osk
from osk_conformance._cli import certify

__all__ = ["register_commands"]


@osk.hookimpl
def register_commands(cli: Any) -> None:
    cli.add_command(certify)
