"""The plugin contract of optuna-storage-kit: what a backend package implements.

A backend package exposes a module with hook implementations and names it in the
``optuna_storage_kit`` entry point group of its ``pyproject.toml``::

    [project.entry-points.optuna_storage_kit]
    mydb = "osk_mydb.plugin"

and in ``osk_mydb/plugin.py``::

    import optuna_storage_kit as osk

    @osk.hookimpl
    def register_backends(register):
        register(osk.Backend(
            name="mydb",
            schemes=("mydb",),
            version="1.0.0",
            spec_version=2,
            open=open_mydb,                       # (StorageURL, options) -> BaseStorage
            capabilities=osk.Capabilities(thread_safe=True, persistent=True),
            options=(osk.Option("timeout", float, 5.0, "Seconds to wait for the server."),),
        ))

Entry points are loaded lazily, the first time a backend is looked up, never at import. One plugin
that fails (its import raises, its hook raises, it was built for another spec version, it registers
an invalid :class:`~optuna_storage_kit.Backend`) is listed as broken by ``osk backends`` and does
not affect the others; ``Registry.load(strict=True)`` raises instead.

Spec versions: :data:`SPEC_VERSION` is the version of this contract; a backend declares the
version it was written for in ``Backend.spec_version``. The contract grows the pluggy way: a new
hook argument or ``Backend`` field has a default, so a plugin written for an older version keeps
working (pluggy lets a hook implementation take fewer arguments than its spec). Every version
from :data:`MIN_SPEC_VERSION` to :data:`SPEC_VERSION` is accepted; versions listed in
:data:`DEPRECATED_SPEC_VERSIONS` load with a ``DeprecationWarning``; a version outside the range
is refused with a message saying what to upgrade.

Spec version history:

* 1: ``register_backends`` and ``register_commands``.
* 2: ``Capabilities.read_only`` with the ``mode`` option; ``Backend.capabilities_for`` (claims
  that depend on options) and ``Backend.visibility_delay_s``; capability implications
  (``durable`` needs ``persistent``, ``multi_host`` needs ``multi_process``) checked when
  ``Capabilities`` is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from optuna_storage_kit.spec.backend import Backend

__all__ = [
    "DEPRECATED_SPEC_VERSIONS",
    "MIN_SPEC_VERSION",
    "PROJECT_NAME",
    "SPEC_VERSION",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "optuna_storage_kit"
"""The pluggy project name, which is also the entry point group."""

SPEC_VERSION = 2
"""The version of this plugin contract."""

MIN_SPEC_VERSION = 1
"""The oldest spec version a backend may declare and still load."""

DEPRECATED_SPEC_VERSIONS: frozenset[int] = frozenset()
"""Spec versions that still load, with a ``DeprecationWarning`` naming the upgrade."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_backends(register: Callable[[Backend], None]) -> None:
    """Register the storage backends this plugin provides.

    Call ``register`` once per :class:`~optuna_storage_kit.Backend`; a plugin may register
    several. Do no I/O here and open no connection: this runs when the registry loads, possibly
    in a process that never uses the backend. Import heavy drivers inside ``Backend.open``.

    Args:
        register: Takes one :class:`~optuna_storage_kit.Backend`.

    Raises:
        Exception: Anything raised here marks this plugin as broken (shown by
            ``osk backends``) and leaves other plugins working.

    Since spec version 1.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``osk`` command line, e.g. ``osk journal compact``.

    Args:
        cli: The root ``osk`` :class:`click.Group`; call ``cli.add_command`` or decorate with
            ``@cli.command()``. Use a name unlikely to clash, usually the backend's.

    Raises:
        Exception: Anything raised here is reported as a warning by ``osk``; the other
            commands remain.

    Since spec version 1.
    """
