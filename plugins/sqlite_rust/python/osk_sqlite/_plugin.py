"""The ``sqlite`` entry point: registers the ``sqlite-rust`` backend for ``optuna+sqlite://``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import optuna_storage_kit as osk
from optuna_storage_kit.toolkit import write_behind
from optuna_storage_kit.toolkit.files import url_file

if TYPE_CHECKING:
    from pathlib import Path

    from osk_sqlite._storage import SqliteStorage

__all__ = [
    "CAPABILITIES",
    "OPTIONS",
    "THRESHOLDS",
    "capabilities_for",
    "open_sqlite",
    "register_backends",
    "sqlite_path",
    "visibility_delay_s",
]

OPTIONS = (
    osk.Option(
        "timeout",
        float,
        60.0,
        "Seconds a write waits for other writers' locks before SqliteStorageError.",
        minimum=0,
    ),
    osk.sync_option(
        "normal",
        "'normal': a commit survives a process crash (WAL, fastest); 'full': also power loss.",
        ("normal", "full"),
    ),
    *write_behind.options(cost="2 commits per trial"),
)

THRESHOLDS: Mapping[str, float] = {
    # random_5000, best of 3 interleaved runs, on this project's shared 2-core VM under load
    # 3-11 (2026-12-02; never quiet): 1.38-2.04 with the checkpoint thread (certify --quick
    # 1.66), where the previous core measured 2.16-2.87 in the same hours. The floor
    # (1.3) is not reached; 2.2 fails a return to the old core's figures without failing CI on
    # this machine's noise. TPE: 0.83-1.04 measured, 1.36 once under a burst of load.
    "random_5000.ratio": 2.2,
    "tpe_1000.ratio": 1.5,
    # Deterministic: 10 statements and 2 commits per trial (create; finish with the buffered
    # params); a little more in scaled-down runs, where the first sync weighs more, or when
    # the timed flush (once a second) finds a running trial.
    "random_5000.statements_per_trial": 10.5,
    "random_5000.commits_per_trial": 2.05,
}
"""Limits the conformance kit holds this backend to (see the README's benchmark figures)."""


CAPABILITIES = osk.Capabilities(
    thread_safe=True,
    multi_process=True,
    persistent=True,
    durable=True,
    heartbeat=True,
    large_steps=True,
    read_only=True,
    counters=True,
)
"""The claims of the default options (``write_behind=true``)."""


capabilities_for = write_behind.capabilities_for(CAPABILITIES)
"""``write_behind=false`` commits every write before it returns: also ``write_through``."""
visibility_delay_s = write_behind.visibility_delay_s
"""A running trial's writes reach other processes within ``flush_interval`` (the timed flush)
with ``write_behind``, at once without it."""


def sqlite_path(url: osk.StorageURL) -> Path:
    """The file of ``optuna+sqlite:///path``: the toolkit's rule for file URLs."""
    return url_file(url, example="study.db")


def open_sqlite(url: osk.StorageURL, options: Mapping[str, Any]) -> SqliteStorage:
    """Open ``optuna+sqlite:///path`` (relative) or ``optuna+sqlite:////abs/path``.

    With ``mode=ro`` the file is opened read-only: nothing in it or its directory changes, and
    a missing file raises :class:`~optuna_storage_kit.StoreNotFoundError`.
    """
    from osk_sqlite._storage import SqliteStorage

    return SqliteStorage(
        str(sqlite_path(url)),
        timeout=options["timeout"],
        synchronous=options["synchronous"],
        write_behind=options["write_behind"],
        flush_interval=options["flush_interval"],
        read_only=options.get("mode") == "ro",
        heartbeat_interval=options.get("heartbeat_interval"),
        grace_period=options.get("grace_period"),
        heartbeat_stale_trial_callback=options.get("heartbeat_stale_trial_callback"),
    )


def describe(storage: Any) -> dict[str, str]:
    from osk_sqlite._native import SQLITE_VERSION

    schema, library, alembic = storage.versions
    access = "read-only" if storage.read_only else f"WAL, synchronous={storage.synchronous}"
    return {
        "file": str(storage.path),
        "format": f"Optuna RDB schema {schema} (alembic {alembic}, written by Optuna {library})",
        "engine": f"SQLite {SQLITE_VERSION} (Rust, {access})",
    }


@osk.hookimpl
def register_backends(register: Callable[[osk.Backend], None]) -> None:
    from osk_sqlite import __version__

    register(
        osk.Backend(
            name="sqlite-rust",
            schemes=("sqlite",),
            version=__version__,
            spec_version=osk.SPEC_VERSION,
            open=open_sqlite,
            capabilities=CAPABILITIES,
            capabilities_for=capabilities_for,
            visibility_delay_s=visibility_delay_s,
            options=OPTIONS,
            description="SQLite file in Optuna's RDB format, Rust core; fast, many processes.",
            describe=describe,
            thresholds=THRESHOLDS,
            file_path=sqlite_path,
            file_suffix=".db",
            default_rank=20,  # osk demo's default: fastest, and Optuna's own format
        )
    )
