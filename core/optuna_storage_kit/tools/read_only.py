"""Open a storage for inspection: nothing is created or changed, a missing store is an error.

* ``optuna+`` URLs open with the option ``mode="ro"`` when the backend claims ``read_only``
  (the backend then refuses to create anything and raises
  :class:`~optuna_storage_kit.StoreNotFoundError` for a missing store). A persistent backend
  without ``read_only`` is refused: opening it could create or change the store. A backend
  that keeps nothing beyond the process (not ``persistent``) opens as it is.
* Optuna's own RDB URLs open with ``RDBStorage`` only after the database is seen to hold
  Optuna's schema (so ``RDBStorage`` neither creates tables nor stamps versions), with
  ``skip_table_creation``, and on an engine that cannot write where the dialect allows it:
  SQLite opens the file with ``mode=ro`` (and ``immutable=1`` for a WAL-mode file without a
  ``-wal`` file, which ``mode=ro`` alone would create), Postgres runs read-only transactions.
* Optuna's journal files open only if they exist, behind a journal backend that refuses
  every append.
"""

from __future__ import annotations

import pathlib
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna_storage_kit.errors import ReadOnlyStorageError, StorageKitError, StoreNotFoundError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from optuna_storage_kit.tools.locations import Location

__all__ = ["OPTUNA_CORE_TABLES", "open_read_only"]

OPTUNA_CORE_TABLES = ("studies", "trials", "version_info", "alembic_version")
"""Tables without which a database holds no Optuna storage (see ``optuna.storages._rdb``)."""


def open_read_only(loc: Location) -> BaseStorage:
    """Open ``loc`` for reading only (see the module docstring).

    Raises:
        StoreNotFoundError: The store does not exist (names it); nothing was created.
        StorageKitError: The backend cannot open read-only, or the store cannot be read.
    """
    if loc.kind == "osk":
        return _open_kit(loc)
    if loc.kind == "optuna-journal":
        return _open_journal(loc)
    return _open_rdb(loc)


# -- optuna+ URLs ----------------------------------------------------------------------------
def _open_kit(loc: Location) -> BaseStorage:
    from optuna_storage_kit.runtime.registry import get_registry
    from optuna_storage_kit.runtime.urls import StorageURL
    from optuna_storage_kit.tools.locations import open_kit

    url = StorageURL(loc.target)
    backend = get_registry().backend_for(url.scheme)
    mode = url.query.get("mode")
    if backend.capabilities.read_only:
        if mode not in (None, "ro"):
            raise StorageKitError(
                f"{loc.shown}: inspection opens read-only; drop mode={mode} from the URL"
            )
        return open_kit(loc) if mode == "ro" else open_kit(loc, mode="ro")
    if backend.capabilities.persistent:
        raise StorageKitError(
            f"backend {backend.name!r} cannot open {loc.shown} read-only (it does not claim "
            "the read_only capability), and inspection never risks creating or changing a "
            "store; upgrade the backend to a release that supports mode=ro, or inspect a copy "
            "(osk copy)"
        )
    return open_kit(loc)  # nothing outlives the process: nothing to change


# -- Optuna's journal files ------------------------------------------------------------------
def _open_journal(loc: Location) -> BaseStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

    path = pathlib.Path(loc.target).expanduser()
    if not path.is_file():
        raise StoreNotFoundError(
            f"{loc.shown}: no such file {str(path)!r} (a journal); check the path"
        )

    class ReadOnlyJournal(BaseJournalBackend):
        """Optuna's journal file, read only: every append raises."""

        def __init__(self, inner: BaseJournalBackend) -> None:
            self._inner = inner

        def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
            return self._inner.read_logs(log_number_from)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            raise ReadOnlyStorageError(f"{loc.shown} was opened read-only; nothing was written")

    # An existing file: JournalFileBackend only reads it (it creates missing files only).
    return JournalStorage(ReadOnlyJournal(JournalFileBackend(str(path))))


# -- Optuna's RDB URLs -----------------------------------------------------------------------
def _open_rdb(loc: Location) -> BaseStorage:
    import sqlalchemy.engine

    from optuna_storage_kit.tools.locations import driver_url

    url = sqlalchemy.engine.make_url(driver_url(loc.target))
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        url = _sqlite_read_only(loc, url)
    elif url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    rendered = url.render_as_string(hide_password=False)
    _check_optuna_schema(loc, rendered, kwargs)
    from optuna.storages import RDBStorage

    try:
        return RDBStorage(rendered, engine_kwargs=kwargs, skip_table_creation=True)
    except Exception as err:
        raise StorageKitError(
            f"cannot read {loc.shown} with Optuna's RDBStorage: {_first_line(err, url.password)}"
        ) from None


def _sqlite_read_only(loc: Location, url: Any) -> Any:
    """The same SQLite URL, opening the file read-only (a URI filename with ``mode=ro``)."""
    database = url.database
    if not database or database == ":memory:":
        return url  # an in-memory database: nothing outlives the process
    path = pathlib.Path(database).expanduser().resolve()
    if not path.is_file():
        raise StoreNotFoundError(
            f"{loc.shown}: no such file {str(path)!r} (a SQLite database); check the path"
        )
    query = {**url.query, "mode": "ro", "uri": "true"}
    if _is_wal(path) and not pathlib.Path(f"{path}-wal").exists():
        # Everything is in the file itself. A read-only connection to a WAL database would
        # still create the -wal and -shm files beside it (and fail where it cannot); an
        # immutable one reads the file alone.
        query["immutable"] = "1"
    return url.set(database="file:" + urllib.parse.quote(str(path)), query=query)


def _is_wal(path: pathlib.Path) -> bool:
    """Whether the SQLite file's header says WAL mode (read and write versions 2)."""
    with path.open("rb") as f:
        header = f.read(20)
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def _check_optuna_schema(loc: Location, url: str, kwargs: dict[str, Any]) -> None:
    """Refuse a database without Optuna's schema before RDBStorage could create it."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **kwargs)
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            missing = [t for t in OPTUNA_CORE_TABLES if t not in tables]
            if len(missing) == len(OPTUNA_CORE_TABLES):
                raise StoreNotFoundError(
                    f"{loc.shown} holds no Optuna storage (none of Optuna's tables); nothing "
                    "was created. Check the URL"
                )
            if missing:
                raise StorageKitError(
                    f"{loc.shown} lacks Optuna's tables {', '.join(missing)}: it is not a "
                    "complete Optuna storage; nothing was changed"
                )
            for table in ("version_info", "alembic_version"):
                count = sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")
                if not connection.execute(count).scalar():
                    raise StorageKitError(
                        f"{loc.shown}: Optuna's {table} table is empty, so opening it would "
                        "write to it; nothing was changed. Open it once with Optuna to set it up"
                    )
    except StorageKitError:
        raise
    except Exception as err:
        raise StorageKitError(
            f"cannot read {loc.shown}: {_first_line(err, engine.url.password)}"
        ) from None
    finally:
        engine.dispose()


def _first_line(err: BaseException, password: str | None) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if password:
        text = text.replace(password, "***")
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
