"""Async Postgres backend for optuna-storage-kit (asyncpg), in Optuna's RDB schema.

``optuna+postgresql://user:password@host:port/database?pool_size=2&sslmode=require``

* :class:`PostgresStorage` is what ``open_storage`` returns inside ``KitStorage``: Optuna's
  synchronous ``BaseStorage`` over an async core on its private event loop. Its ``aio``
  attribute offers the same methods as coroutines.
* :class:`AsyncPostgresStorage` is the native async API for asyncio applications.

The names below are imported on first use: the registry imports this package to read its
plugin module, and users of other backends should not pay for asyncpg and SQLAlchemy.
"""

from optuna_storage_kit.toolkit.exports import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from osk_postgres._async import ASYNC_METHODS, AsyncPostgresStorage
    from osk_postgres._config import OPTIONS
    from osk_postgres._errors import PostgresConnectionError
    from osk_postgres._plugin import __version__
    from osk_postgres._schema import SchemaVersionError
    from osk_postgres._storage import PostgresStorage

__all__ = [
    "ASYNC_METHODS",
    "OPTIONS",
    "AsyncPostgresStorage",
    "PostgresConnectionError",
    "PostgresStorage",
    "SchemaVersionError",
    "__version__",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ASYNC_METHODS": ("osk_postgres._async", "ASYNC_METHODS"),
        "AsyncPostgresStorage": ("osk_postgres._async", "AsyncPostgresStorage"),
        "OPTIONS": ("osk_postgres._config", "OPTIONS"),
        "PostgresConnectionError": ("osk_postgres._errors", "PostgresConnectionError"),
        "__version__": ("osk_postgres._plugin", "__version__"),
        "SchemaVersionError": ("osk_postgres._schema", "SchemaVersionError"),
        "PostgresStorage": ("osk_postgres._storage", "PostgresStorage"),
    },
)
