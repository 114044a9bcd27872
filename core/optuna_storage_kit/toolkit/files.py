"""File URLs: the path in ``optuna+<scheme>:///relative/path`` or ``optuna+<scheme>:////abs/path``.

One rule for every backend that keeps a store in a local file or directory, with the same
messages: such a URL names no host, user or port, and names a path (SQLite's ``:memory:`` is
not one). A backend passes :func:`url_file` (or a function calling it) as its
:attr:`~optuna_storage_kit.Backend.file_path` and opens the path it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from optuna_storage_kit.errors import InvalidURLError

if TYPE_CHECKING:
    from optuna_storage_kit.runtime.urls import StorageURL

__all__ = ["url_file"]


def url_file(url: StorageURL, *, example: str = "") -> Path:
    """Return the file (or directory) a file backend's URL names, as written in it.

    The grammar is SQLAlchemy's for ``sqlite://``: ``optuna+x:///study.db`` is relative to
    the working directory, ``optuna+x:////abs/study.db`` absolute.

    Args:
        url: The URL (its query is ignored).
        example: The file name the messages suggest when the URL names none, e.g.
            ``"study.db"`` (default ``"store"``).

    Raises:
        InvalidURLError: The URL names a host, user or port (a file is local), or no path.
    """
    database = url.database
    named = Path(database).name if database and database != ":memory:" else ""
    name = named or example or "store"
    fix = (
        f"write 'optuna+{url.scheme}:///{name}' (relative to the working directory) or "
        f"'optuna+{url.scheme}:////absolute/path/{name}'"
    )
    if url.host or url.username or url.port is not None:
        raise InvalidURLError(f"{url} names a host, but its store is a local file: {fix}")
    if not database or database == ":memory:":
        raise InvalidURLError(
            f"{url} names no file: {fix} (for a store in memory use 'optuna+memory://')"
        )
    return Path(database)
