"""Parsing and masking of ``optuna+<scheme>://`` storage URLs.

The grammar is SQLAlchemy's (``sqlalchemy.engine.make_url`` of SQLAlchemy 2.x), written out here
so that parsing a URL does not import SQLAlchemy (over a second of start-up on a small machine).
``core/tests/test_urls.py`` compares the two over many generated URLs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from optuna_storage_kit.errors import InvalidURLError

if TYPE_CHECKING:
    import sqlalchemy.engine

__all__ = ["PREFIX", "StorageURL", "mask_url"]

PREFIX = "optuna+"

# SQLAlchemy 2.x's URL pattern (sqlalchemy/engine/url.py, _parse_url), unchanged.
_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)

_Query = Mapping[str, "str | tuple[str, ...]"]
_EMPTY_QUERY: _Query = MappingProxyType({})


class _Parts:
    """The fields of a URL, as SQLAlchemy's ``URL`` holds them."""

    __slots__ = ("database", "drivername", "host", "password", "port", "query", "username")

    def __init__(
        self,
        drivername: str,
        username: str | None = None,
        password: str | None = None,
        host: str | None = None,
        port: int | None = None,
        database: str | None = None,
        query: _Query = _EMPTY_QUERY,
    ) -> None:
        self.drivername = drivername
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.query: _Query = MappingProxyType(dict(query)) if query else _EMPTY_QUERY

    def astuple(self) -> tuple[Any, ...]:
        return (
            self.drivername,
            self.username,
            self.password,
            self.host,
            self.port,
            self.database,
            tuple(sorted(self.query.items())),
        )

    def replace(self, **changes: Any) -> _Parts:
        fields = {name: getattr(self, name) for name in self.__slots__}
        return _Parts(**{**fields, **changes})

    def render(self, *, hide_password: bool) -> str:
        """SQLAlchemy's ``URL.render_as_string``, character for character."""
        text = self.drivername + "://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                text += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += ":" + str(self.port)
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(
                f"{quote_plus(key)}={quote_plus(element)}"
                for key in sorted(self.query)
                for element in _as_tuple(self.query[key])
            )
        return text


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _parse(url: str) -> _Parts:
    """Split ``url`` as ``sqlalchemy.engine.make_url`` does.

    Raises:
        ValueError: The URL does not match the grammar, or its port is not a number.
    """
    match = _PATTERN.match(url)
    if match is None:
        raise ValueError("it does not match the form scheme://[user[:password]@][host][:port]/...")
    parts = match.groupdict()
    query: dict[str, str | tuple[str, ...]] = {}
    if parts["query"] is not None:
        for key, value in parse_qsl(parts["query"]):
            old = query.get(key)
            query[key] = value if old is None else (*_as_tuple(old), value)
    port: int | None = None
    if parts["port"] is not None:
        try:
            port = int(parts["port"])
        except ValueError:
            raise ValueError(f"the port {parts['port']!r} is not a number") from None
    return _Parts(
        parts["name"],
        username=None if parts["username"] is None else unquote(parts["username"]),
        password=None if parts["password"] is None else unquote(parts["password"]),
        host=parts["ipv4host"] or parts["ipv6host"],
        port=port,
        database=None if parts["database"] is None else unquote(parts["database"]),
        query=query,
    )


def _from_sqlalchemy(url: Any) -> _Parts | None:
    """The fields of a ``sqlalchemy.engine.URL``, or None if ``url`` is not one.

    SQLAlchemy is only looked at when something else imported it already.
    """
    module = sys.modules.get("sqlalchemy.engine.url")
    if module is None or not isinstance(url, module.URL):
        return None
    return _Parts(
        url.drivername,
        url.username,
        None if url.password is None else str(url.password),
        url.host,
        url.port,
        url.database,
        url.query,
    )


class StorageURL:
    """A parsed storage URL such as ``optuna+postgresql://user:pw@host:5432/db?pool_size=4``.

    The grammar is SQLAlchemy's (``scheme://user:password@host:port/database?query``), so
    ``optuna+sqlite:///relative.db`` and ``optuna+sqlite:////absolute.db`` mean what they mean
    for ``sqlite://`` URLs. The password is kept but never shown: ``str()``, ``repr()`` and
    :meth:`render` mask it unless asked explicitly.

    Instances are immutable. Query parameters are options: :func:`open_storage` moves them into
    the validated options, so the URL a backend receives has an empty :attr:`query`.
    """

    __slots__ = ("_parts",)

    def __init__(self, url: str | StorageURL | sqlalchemy.engine.URL) -> None:
        if isinstance(url, StorageURL):
            self._parts: _Parts = url._parts
            return
        parts = _from_sqlalchemy(url)
        if parts is None:
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
                parts = _parse(url)
            except ValueError as err:
                raise InvalidURLError(
                    f"cannot parse storage URL {mask_url(url)!r}: {err}. "
                    "The form is 'optuna+<scheme>://[user[:password]@][host[:port]]/[path][?opt=value]'"
                ) from None
        if not parts.drivername.startswith(PREFIX) or parts.drivername == PREFIX:
            raise InvalidURLError(
                f"{parts.render(hide_password=True)!r} has no scheme after "
                f"'{PREFIX}'; write e.g. 'optuna+sqlite:///study.db'"
            )
        self._parts = parts

    @classmethod
    def _of(cls, parts: _Parts) -> StorageURL:
        url = cls.__new__(cls)
        url._parts = parts
        return url

    # -- parts -------------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """The scheme after ``optuna+``, e.g. ``"sqlite"`` or ``"postgresql"``."""
        return self._parts.drivername[len(PREFIX) :]

    @property
    def username(self) -> str | None:
        return self._parts.username

    @property
    def password(self) -> str | None:
        """The password in clear text. Never log it; :meth:`render` masks it."""
        return self._parts.password

    @property
    def host(self) -> str | None:
        return self._parts.host

    @property
    def port(self) -> int | None:
        return self._parts.port

    @property
    def database(self) -> str | None:
        """The part after the host: a database name, or a file path for file backends."""
        return self._parts.database

    @property
    def query(self) -> Mapping[str, str | tuple[str, ...]]:
        """The query parameters; a key given several times maps to a tuple of its values."""
        return self._parts.query

    # -- derived -----------------------------------------------------------------------------
    def without_query(self) -> StorageURL:
        """Return this URL with its query parameters removed."""
        return StorageURL._of(self._parts.replace(query=_EMPTY_QUERY))

    def with_scheme(self, scheme: str) -> sqlalchemy.engine.URL:
        """Return a SQLAlchemy URL with ``optuna+`` removed and ``scheme`` as driver name.

        For example ``url.with_scheme("postgresql+psycopg2")`` gives a URL that Optuna's
        ``RDBStorage`` or SQLAlchemy understand. The result holds the password in clear text.
        This imports SQLAlchemy.
        """
        import sqlalchemy.engine

        p = self._parts
        return sqlalchemy.engine.URL.create(
            scheme, p.username, p.password, p.host, p.port, p.database, p.query
        )

    def render(self, *, hide_password: bool = True) -> str:
        """Render the URL as a string, with the password shown as ``***`` unless told not to."""
        return self._parts.render(hide_password=hide_password)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"StorageURL({self.render()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorageURL) and self._parts.astuple() == other._parts.astuple()

    def __hash__(self) -> int:
        return hash(self._parts.astuple())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, self._parts.astuple())


def _rebuild(
    drivername: str,
    username: str | None,
    password: str | None,
    host: str | None,
    port: int | None,
    database: str | None,
    query: tuple[tuple[str, str | tuple[str, ...]], ...],
) -> StorageURL:
    """Unpickle a :class:`StorageURL`."""
    parts = _Parts(drivername, username, password, host, port, database, dict(query))
    return StorageURL._of(parts)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; never raises.

    Used for messages about URLs that may not even parse.
    """
    try:
        return _parse(url).render(hide_password=True)
    except Exception:
        scheme, sep, rest = url.partition("://")
        if not sep:
            return url
        authority, slash, tail = rest.partition("/")
        userinfo, at, hostport = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + hostport
        return f"{scheme}{sep}{authority}{slash}{tail}"
