"""Registration with optuna-storage-kit: backend ``postgres`` for ``optuna+postgresql://``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import optuna_storage_kit as osk
from optuna_storage_kit import Backend, Capabilities, StorageURL
from osk_postgres._config import OPTIONS, Settings

__all__ = ["open_postgres", "register_backends"]


def open_postgres(url: StorageURL, options: Mapping[str, Any]) -> Any:
    """Open a :class:`~osk_postgres.PostgresStorage` (creating Optuna's schema if empty)."""
    from osk_postgres._storage import PostgresStorage

    if not url.database:
        raise osk.InvalidURLError(
            f"{url} names no database: write optuna+postgresql://user:pw@host:port/DBNAME"
        )
    return PostgresStorage(Settings(url, dict(options)))


def _describe(storage: Any) -> dict[str, str]:
    from osk_postgres._schema import alembic_head, schema_version

    inner = getattr(storage, "inner", storage)
    counters = inner.osk_counters() if hasattr(inner, "osk_counters") else {}
    return {
        "format": f"Optuna RDB schema {schema_version()} (alembic {alembic_head()}) on Postgres",
        "driver": "asyncpg on a private event loop run by the calling thread; pool_size="
        f"{inner.settings.opt('pool_size') if hasattr(inner, 'settings') else '?'}",
        "round trips so far": str(counters.get("round_trips", "?")),
    }


try:
    __version__ = version("osk-postgres")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

CAPABILITIES = Capabilities(
    thread_safe=True,
    multi_process=True,
    multi_host=True,
    persistent=True,
    durable=True,
    heartbeat=True,
    async_api=True,
    counters=True,
)
"""What the backend claims. ``durable`` is Optuna's persistence contract, which the default
(``buffer_writes=true``) keeps: a running trial's params and attributes persist with its next
intermediate value, heartbeat or state change. Not ``write_through`` (every returned write
survives a kill): that holds only with ``buffer_writes=false``, and capabilities are claimed per
backend, not per option. Not ``large_steps``: Optuna's schema keeps intermediate-value steps in
a 32-bit column here, so larger steps are refused with ValueError."""

THRESHOLDS = {
    "random_5000.round_trips_per_trial": 3.1,
    "random_5000.commits_per_trial": 2.1,
}
"""Limits for the conformance kit (counts per trial of its Random workload, 3 params)."""


@osk.hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="postgres",
            schemes=("postgresql", "postgres"),
            version=__version__,
            spec_version=osk.SPEC_VERSION,
            open=open_postgres,
            capabilities=CAPABILITIES,
            options=OPTIONS,
            description="Postgres via asyncpg in Optuna's RDB schema (shares a database with "
            "RDBStorage and optuna-dashboard).",
            describe=_describe,
            thresholds=THRESHOLDS,
        )
    )
