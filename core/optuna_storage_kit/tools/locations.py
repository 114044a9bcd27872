"""Open any storage the tools accept: our ``optuna+`` URLs and Optuna's own.

Every ``osk`` command that takes a storage (``info``, ``demo``, ``copy``, ``bench``,
``dashboard``, ``fail-trials``) takes one kind of argument, a storage location, and this
module turns it into a :class:`~optuna.storages.BaseStorage`:

* ``optuna+<scheme>://...`` goes through :func:`optuna_storage_kit.open_storage`;
* any other ``<dialect>://...`` URL (``sqlite:///x.db``, ``postgresql://...``) is a SQLAlchemy
  URL for Optuna's ``RDBStorage``;
* a plain path is a journal file for Optuna's ``JournalStorage(JournalFileBackend(path))``
  when it ends in ``.log``/``.journal`` or names an existing file that is not a SQLite database
  (an existing SQLite file goes to ``RDBStorage``).

``open_any(location, read_only=True)`` opens it for inspection, creating and changing nothing
(see :mod:`optuna_storage_kit.tools.read_only`).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage

from optuna_storage_kit.errors import StorageKitError
from optuna_storage_kit.runtime.open import open_storage
from optuna_storage_kit.runtime.urls import PREFIX, mask_url

if TYPE_CHECKING:
    from optuna_storage_kit.spec.backend import Backend

__all__ = [
    "JOURNAL_SUFFIXES",
    "REFERENCE_URL",
    "Location",
    "classify",
    "driver_url",
    "file_backends",
    "new_file_url",
    "open_any",
    "open_kit",
    "open_source",
]

REFERENCE_URL = "optuna+memory://"
"""The in-memory reference backend, which benchmarks and certificates measure against."""

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclasses.dataclass(frozen=True)
class Location:
    """Where a storage lives and which implementation serves it.

    Attributes:
        text: The location as given (may hold a password: show :attr:`shown` instead).
        kind: ``"osk"`` (our registry), ``"optuna-rdb"`` or ``"optuna-journal"``.
        target: What the implementation receives: the URL, or the journal file path.
    """

    text: str
    kind: str
    target: str

    @property
    def shown(self) -> str:
        """The location with any password masked."""
        return mask_url(self.text)

    @property
    def multi_process(self) -> bool:
        """Whether several processes may open this location at once."""
        if self.kind == "optuna-journal":
            return True
        if self.kind == "optuna-rdb":
            if self.target.startswith("sqlite"):
                path = self.target.partition(":///")[2]
                return bool(path) and path != ":memory:"
            return True
        from optuna_storage_kit.runtime.registry import get_registry
        from optuna_storage_kit.runtime.urls import StorageURL

        backend = get_registry().backend_for(StorageURL(self.target).scheme)
        return backend.capabilities.multi_process

    @property
    def file(self) -> pathlib.Path | None:
        """The resolved file this location stores into, for file storages; else ``None``."""
        path = _file_of(self)
        return pathlib.Path(path).expanduser().resolve() if path else None

    def same_store(self, other: Location) -> bool:
        """Whether both locations are one store (the same URL, or the same file)."""
        if self.kind == other.kind and self.target == other.target:
            return True
        return self.file is not None and self.file == other.file

    @property
    def label(self) -> str:
        """A short name for tables: the backend's name or Optuna's storage class."""
        if self.kind == "optuna-rdb":
            dialect = self.target.split(":", 1)[0].split("+", 1)[0]
            return f"Optuna RDBStorage ({dialect})"
        if self.kind == "optuna-journal":
            return "Optuna JournalStorage (file)"
        from optuna_storage_kit.runtime.registry import get_registry
        from optuna_storage_kit.runtime.urls import StorageURL

        return get_registry().backend_for(StorageURL(self.target).scheme).name


def classify(text: str) -> Location:
    """Decide which implementation serves ``text`` without opening anything.

    Raises:
        StorageKitError: ``text`` is neither a URL nor a usable path.
    """
    if text.startswith(PREFIX):
        return Location(text, "osk", text)
    if "://" in text:
        return Location(text, "optuna-rdb", text)
    path = pathlib.Path(text).expanduser()
    if path.is_file():
        with path.open("rb") as f:
            if f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                return Location(text, "optuna-rdb", f"sqlite:///{path.resolve()}")
        return Location(text, "optuna-journal", str(path))
    if path.suffix in JOURNAL_SUFFIXES:
        return Location(text, "optuna-journal", str(path))
    raise StorageKitError(
        f"{mask_url(text)!r} is not a storage: give a URL ('optuna+sqlite:///x.db', "
        f"'sqlite:///x.db', 'postgresql://user@host/db') or a journal file path ending in "
        f"{', '.join(JOURNAL_SUFFIXES)}"
    )


def open_any(
    location: str | Location, *, must_exist: bool = False, read_only: bool = False
) -> BaseStorage:
    """Open the storage at ``location`` (see the module docstring for what is accepted).

    Args:
        location: A URL or journal file path, or a :class:`Location` from :func:`classify`.
        must_exist: Refuse a SQLite or journal file that does not exist yet instead of
            creating it (for sources, where a typo would otherwise read an empty store).
        read_only: Open for inspection: nothing is created or changed, a missing store is an
            error, and a backend that cannot open read-only is refused.

    Raises:
        StorageKitError: The location is not a storage, or ``must_exist`` and it is missing.
        StoreNotFoundError: ``read_only`` and the store does not exist.
    """
    loc = classify(location) if isinstance(location, str) else location
    if read_only:
        from optuna_storage_kit.tools.read_only import open_read_only

        return open_read_only(loc)
    if must_exist:
        _check_exists(loc)
    if loc.kind == "osk":
        return open_kit(loc)
    if loc.kind == "optuna-journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        pathlib.Path(loc.target).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(loc.target))
    from optuna.storages import RDBStorage

    try:
        return RDBStorage(driver_url(loc.target))
    except Exception as err:
        message = str(err)
        password = _password(loc.target)
        if password:
            message = message.replace(password, "***")
        raise StorageKitError(
            f"cannot open {loc.shown} with Optuna's RDBStorage: {type(err).__name__}: "
            f"{message.splitlines()[0] if message else ''}"
        ) from None


def open_source(location: str | Location) -> BaseStorage:
    """Open a storage to read from (``osk copy``'s SRC): read-only wherever it can be (Optuna's
    own storages, backends that claim ``read_only``), else an existing store as it is.

    Raises:
        StoreNotFoundError: The store does not exist.
        StorageKitError: It cannot be opened.
    """
    loc = classify(location) if isinstance(location, str) else location
    if loc.kind != "osk" or _claims_read_only(loc):
        return open_any(loc, read_only=True)
    return open_any(loc, must_exist=True)


def _claims_read_only(loc: Location) -> bool:
    from optuna_storage_kit.runtime.registry import get_registry
    from optuna_storage_kit.runtime.urls import StorageURL

    return get_registry().backend_for(StorageURL(loc.target).scheme).capabilities.read_only


def open_kit(loc: Location, **options: Any) -> BaseStorage:
    """Open an ``optuna+`` location with ``options``; an ``OSError`` (a server that is down, a
    directory that cannot be written) becomes a :class:`StorageKitError` naming the location.
    """
    try:
        return open_storage(loc.target, **options)
    except StorageKitError:
        raise
    except OSError as err:
        hint = (
            "; check that the server is running and that host and port are right"
            if isinstance(err, (ConnectionError, TimeoutError))
            else ""
        )
        raise StorageKitError(
            f"cannot open {loc.shown}: {type(err).__name__}: {err}{hint}"
        ) from err


def file_backends() -> list[Backend]:
    """The installed backends that keep stores in files, the most preferred first (by
    :attr:`~optuna_storage_kit.Backend.default_rank`, then name)."""
    from optuna_storage_kit.runtime.registry import get_registry

    found = [b for b in get_registry().backends() if b.file_path is not None]
    return sorted(found, key=lambda b: (-b.default_rank, b.name))


def new_file_url(backend: Backend, directory: pathlib.Path, stem: str) -> str:
    """The URL of a new store ``directory/stem`` (plus the backend's file suffix) on a file
    backend, e.g. ``optuna+sqlite:////tmp/x/demo.db``."""
    return f"{PREFIX}{backend.schemes[0]}:///{directory / (stem + backend.file_suffix)}"


def driver_url(url: str) -> str:
    """Name psycopg2 in a bare ``postgresql://`` URL when psycopg (3), SQLAlchemy's default
    driver, is missing but psycopg2 is installed; other URLs are returned as they are."""
    import importlib.util

    if not url.startswith(("postgresql://", "postgres://")):
        return url
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def _password(url: str) -> str | None:
    try:
        import sqlalchemy.engine

        return sqlalchemy.engine.make_url(url).password
    except Exception:
        return None


def _file_of(loc: Location) -> str | None:
    if loc.kind == "optuna-journal":
        return loc.target
    if loc.kind == "optuna-rdb" and loc.target.startswith("sqlite:///"):
        path = loc.target[len("sqlite:///") :]
        return path if path and path != ":memory:" else None
    if loc.kind == "osk":
        from optuna_storage_kit.runtime.registry import get_registry
        from optuna_storage_kit.runtime.urls import StorageURL

        url = StorageURL(loc.target).without_query()
        backend = get_registry().backend_for(url.scheme)
        found = backend.file_path(url) if backend.file_path is not None else None
        return str(found) if found is not None else None
    return None


def _check_exists(loc: Location) -> None:
    path = _file_of(loc)
    if path and not pathlib.Path(path).exists():
        raise StorageKitError(f"{loc.shown}: no such file {path!r}; check the path")
