"""Async Postgres backend for optuna-storage-kit (asyncpg), in Optuna's RDB schema.

``optuna+postgresql://user:password@host:port/database?pool_size=2&sslmode=require``

* :class:`PostgresStorage` is what ``open_storage`` returns inside ``KitStorage``: Optuna's
  synchronous ``BaseStorage`` over an async core on its private event loop. Its ``aio``
  attribute offers the same methods as coroutines.
* :class:`AsyncPostgresStorage` is the native async API for asyncio applications.
"""

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
