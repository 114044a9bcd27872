"""Parsing and masking of ``optuna+<scheme>://`` storage URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy.engine
import sqlalchemy.exc

from optuna_storage_kit.errors import InvalidURLError

__all__ = ["PREFIX", "StorageURL", "mask_url"]

PREFIX = "optuna+"


class StorageURL:
    """A parsed storage URL such as ``optuna+postgresql://user:pw@host:5432/db?pool_size=4``.

    The grammar is SQLAlchemy's (``scheme://user:password@host:port/database?query``), so
    ``optuna+sqlite:///relative.db`` and ``optuna+sqlite:////absolute.db`` mean what they mean
    for ``sqlite://`` URLs. The password is kept but never shown: ``str()``, ``repr()`` and
    :meth:`render` mask it unless asked explicitly.

    Instances are immutable. Query parameters are options: :func:`open_storage` moves them into
    the validated options, so the URL a backend receives has an empty :attr:`query`.
    """

    __slots__ = ("_url",)

    def __init__(self, url: str | StorageURL | sqlalchemy.engine.URL) -> None:
        if isinstance(url, StorageURL):
            self._url: sqlalchemy.engine.URL = url._url
            return
        if isinstance(url, sqlalchemy.engine.URL):
            parsed = url
        else:
            if not isinstance(url, str):
                raise InvalidURLError(
                    f"a storage URL must be a str, got {type(url).__name__}; "
                    "write it as 'optuna+<scheme>://...'"
                )
            if not url.startswith(PREFIX):
                raise InvalidURLError(
                    f"{mask_url(url)!r} is not an optuna-storage-kit URL: it must start with "
                    f"'{PREFIX}', e.g. 'optuna+sqlite:///study.db' (Optuna's own URLs such as "
                    "'sqlite:///study.db' go to optuna.storages.RDBStorage)"
                )
            try:
                parsed = sqlalchemy.engine.make_url(url)
            except (sqlalchemy.exc.ArgumentError, ValueError) as err:
                raise InvalidURLError(
                    f"cannot parse storage URL {mask_url(url)!r}: {err}. "
                    "The form is 'optuna+<scheme>://[user[:password]@][host[:port]]/[path][?opt=value]'"
                ) from None
        if not parsed.drivername.startswith(PREFIX) or parsed.drivername == PREFIX:
            raise InvalidURLError(
                f"{parsed.render_as_string(hide_password=True)!r} has no scheme after "
                f"'{PREFIX}'; write e.g. 'optuna+sqlite:///study.db'"
            )
        self._url = parsed

    # -- parts -------------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """The scheme after ``optuna+``, e.g. ``"sqlite"`` or ``"postgresql"``."""
        return self._url.drivername[len(PREFIX) :]

    @property
    def username(self) -> str | None:
        return self._url.username

    @property
    def password(self) -> str | None:
        """The password in clear text. Never log it; :meth:`render` masks it."""
        return self._url.password

    @property
    def host(self) -> str | None:
        return self._url.host

    @property
    def port(self) -> int | None:
        return self._url.port

    @property
    def database(self) -> str | None:
        """The part after the host: a database name, or a file path for file backends."""
        return self._url.database

    @property
    def query(self) -> Mapping[str, str | tuple[str, ...]]:
        return self._url.query

    # -- derived -----------------------------------------------------------------------------
    def without_query(self) -> StorageURL:
        """Return this URL with its query parameters removed."""
        return StorageURL(self._url.set(query={}))

    def with_scheme(self, scheme: str) -> sqlalchemy.engine.URL:
        """Return a SQLAlchemy URL with ``optuna+`` removed and ``scheme`` as driver name.

        For example ``url.with_scheme("postgresql+psycopg2")`` gives a URL that Optuna's
        ``RDBStorage`` or SQLAlchemy understand. The result holds the password in clear text.
        """
        return self._url.set(drivername=scheme)

    def render(self, *, hide_password: bool = True) -> str:
        """Render the URL as a string, with the password shown as ``***`` unless told not to."""
        return self._url.render_as_string(hide_password=hide_password)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StorageURL({self.render()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageURL) and self._url == other._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __reduce__(self) -> tuple[Any, ...]:
        return (StorageURL, (self._url,))


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; never raises.

    Used for messages about URLs that may not even parse.
    """
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        scheme, sep, rest = url.partition("://")
        if not sep:
            return url
        authority, slash, tail = rest.partition("/")
        userinfo, at, hostport = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + hostport
        return f"{scheme}{sep}{authority}{slash}{tail}"
