"""Connection failures as one clear line: which server and database, what went wrong, the fix.

asyncpg reports a failed connection in a dozen shapes (``ConnectionRefusedError``,
``socket.gaierror``, ``InvalidPasswordError``, a bare ``ConnectionError`` for a refused TLS
upgrade, ...). :func:`connect_failure` turns each into a :class:`PostgresConnectionError` (or
:class:`~optuna_storage_kit.StoreNotFoundError` for a missing database) whose message names
``host:port/database``, never the password, and says what to do.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import TYPE_CHECKING

import asyncpg
import asyncpg.exceptions as pgerr

from optuna_storage_kit import StorageKitError, StoreNotFoundError

if TYPE_CHECKING:
    from osk_postgres._config import Settings

__all__ = ["PostgresConnectionError", "connect_failure", "lost_connection"]


class PostgresConnectionError(StorageKitError, ConnectionError):
    """The Postgres server could not be reached, or it refused the connection."""


def _where(settings: Settings) -> str:
    host, port = settings.host_port()
    return f"{host}:{port}/{settings.url.database}"


def _cause(err: BaseException, settings: Settings) -> tuple[str, str] | None:
    """``(what happened, how to fix it)`` for a connection attempt's error, or None."""
    host, port = settings.host_port()
    user = settings.url.username or "(the current OS user)"
    if isinstance(err, pgerr.InvalidPasswordError):
        return (
            f"password authentication failed for user {user!r}",
            "put the right password in the URL (optuna+postgresql://USER:PASSWORD@host/db)",
        )
    if isinstance(err, pgerr.InvalidAuthorizationSpecificationError):
        return (
            f"the server refused user {user!r}: {_first_line(err)}",
            "use a role that exists and may connect to this database (CREATE ROLE ... LOGIN; "
            "pg_hba.conf)",
        )
    if isinstance(err, pgerr.TooManyConnectionsError):
        return (
            "the server has no connection slot left",
            "lower pool_size, use fewer processes, or raise the server's max_connections",
        )
    if isinstance(err, pgerr.CannotConnectNowError):
        return (
            f"the server is starting up or shutting down ({_first_line(err)})",
            "retry once the server is up",
        )
    if isinstance(err, ssl.SSLCertVerificationError) or (
        isinstance(err, ssl.SSLError) and "certificate" in str(err).lower()
    ):
        return (
            f"the server's TLS certificate did not verify ({err.__class__.__name__}: "
            f"{_first_line(err)})",
            "give the CA that signed it as sslrootcert=FILE, use the host name the certificate "
            "names, or use sslmode=verify-ca or require",
        )
    if isinstance(err, ssl.SSLError):
        return (
            f"the TLS handshake failed ({_first_line(err)})",
            "check the server's TLS setup, or use another sslmode",
        )
    if isinstance(err, ConnectionError) and "rejected SSL upgrade" in str(err):
        mode = settings.opt("sslmode")
        if mode in (None, "prefer", "allow", "disable"):  # TLS was optional: not Postgres
            return (
                f"what listens at {host}:{port} does not answer as a Postgres server",
                "fix the port (Postgres listens on 5432 by default) or the host in the URL",
            )
        return (
            f"the server does not offer TLS (or is not a Postgres server), and sslmode={mode} "
            "requires TLS",
            "enable ssl on the server, or connect with sslmode=prefer or sslmode=disable "
            "(unencrypted)",
        )
    if isinstance(err, asyncpg.ConnectionDoesNotExistError):
        return (
            f"what listens at {host}:{port} closed the connection without answering as a "
            "Postgres server",
            "fix the port (Postgres listens on 5432 by default) or the host in the URL",
        )
    if isinstance(err, ConnectionRefusedError) or getattr(err, "errno", None) in (
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    ):
        return (
            f"nothing accepts connections at {host}:{port} ({_first_line(err)})",
            "start the server, or fix the host and port in the URL",
        )
    if isinstance(err, socket.gaierror):
        return (
            f"the host name {host!r} cannot be resolved ({_first_line(err)})",
            "fix the host in the URL",
        )
    if isinstance(err, (asyncio.TimeoutError, TimeoutError)):
        return (
            f"no answer within connect_timeout={settings.opt('connect_timeout'):g} s",
            "check that the host and port are right and reachable (firewall), or raise "
            "connect_timeout",
        )
    if isinstance(err, asyncpg.ClientConfigurationError):
        return (_first_line(err), "fix the TLS options (sslmode, sslrootcert, sslcert, sslkey)")
    if isinstance(err, (OSError, asyncpg.InterfaceError, pgerr.PostgresConnectionError)):
        return (
            f"{err.__class__.__name__}: {_first_line(err)}",
            "check the URL and that the server is up",
        )
    return None


_SERVER_REFUSALS = (
    pgerr.InvalidAuthorizationSpecificationError,  # a wrong password or user, pg_hba.conf
    pgerr.InvalidCatalogNameError,
    pgerr.TooManyConnectionsError,
    pgerr.CannotConnectNowError,
)
"""Errors only a Postgres server answers a connection attempt with."""


def connect_failure(err: BaseException, settings: Settings) -> StorageKitError | None:
    """The error to raise for a failed connection attempt, or None when ``err`` is not one.

    A missing database is :class:`~optuna_storage_kit.StoreNotFoundError`; the rest are
    :class:`PostgresConnectionError`. Raise it ``from None``: the message is complete, and
    the driver's chain would only repeat it as a traceback.
    """
    first = err.__cause__
    if isinstance(first, _SERVER_REFUSALS) and isinstance(err, (ConnectionError, OSError)):
        # sslmode=allow retried with TLS after the server refused the plaintext attempt: that
        # refusal (a wrong password, say) is the answer, not the TLS retry's failure.
        err = first
    if isinstance(err, pgerr.InvalidCatalogNameError):
        host, port = settings.host_port()
        database = settings.url.database
        user = f" -U {settings.url.username}" if settings.url.username else ""
        return StoreNotFoundError(
            f"no database {database!r} on the Postgres server at {host}:{port} "
            f"({settings.masked}): create it first (createdb -h {host} -p {port}{user} "
            f"{database}), or fix the database name in the URL"
        )
    cause = _cause(err, settings)
    if cause is None:
        return None
    what, fix = cause
    return PostgresConnectionError(
        f"cannot connect to Postgres at {_where(settings)} ({settings.masked}): {what}; {fix}"
    )


def lost_connection(err: BaseException, settings: Settings) -> PostgresConnectionError:
    """The error for an operation that gave up reconnecting after ``reconnect_timeout``."""
    cause = _cause(err, settings)
    what = cause[0] if cause else f"{err.__class__.__name__}: {_first_line(err)}"
    return PostgresConnectionError(
        f"lost the connection to Postgres at {_where(settings)} ({settings.masked}) and could "
        f"not get it back within reconnect_timeout={settings.opt('reconnect_timeout'):g} s: "
        f"{what}; check the server, or raise reconnect_timeout"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__
