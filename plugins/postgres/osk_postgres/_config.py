"""Connection settings: from a StorageURL and validated options to what asyncpg needs."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import ssl
from collections.abc import Mapping
from typing import Any

from optuna_storage_kit import (
    SYNC_OPTION_NAME,
    InvalidOptionError,
    InvalidURLError,
    Option,
    StorageURL,
    sync_option,
)
from optuna_storage_kit.toolkit import write_behind

__all__ = ["OPTIONS", "SSL_MODES", "Settings"]

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

OPTIONS: tuple[Option, ...] = (
    Option("pool_size", int, 2, "Connections per storage object (per process).", minimum=1),
    Option(
        "connect_timeout", float, 10.0, "Seconds to wait for one connection attempt.", minimum=0.1
    ),
    Option(
        "reconnect_timeout",
        float,
        60.0,
        "Seconds to keep retrying after the server went away (restart, network) before raising.",
        minimum=0,
    ),
    Option(
        "statement_timeout",
        float,
        None,
        "Server-side limit in seconds for one statement; None leaves the server's setting.",
        minimum=0,
    ),
    Option(
        "sslmode",
        str,
        None,
        "TLS mode, as in libpq. Unset: PGSSLMODE if set, else 'allow' on a loopback host "
        "(plaintext, TLS only if the server demands it) and 'prefer' elsewhere.",
        choices=SSL_MODES,
    ),
    Option("sslrootcert", str, None, "File with the CA certificate(s) to verify the server."),
    Option("sslcert", str, None, "File with the client certificate."),
    Option("sslkey", str, None, "File with the client certificate's private key."),
    sync_option(
        None,
        "Postgres synchronous_commit for this backend's sessions; 'off' returns before the WAL "
        "is flushed (survives client kills and clean restarts, not a server crash). "
        "None leaves the server's setting. Was named synchronous_commit (still accepted).",
        ("on", "off", "local", "remote_write", "remote_apply"),
        aliases=("synchronous_commit",),
    ),
    Option("application_name", str, "osk-postgres", "Shown in pg_stat_activity."),
    *write_behind.options(cost="3 round trips and 2 commits per trial"),
)
"""The backend's own options (the core adds the heartbeat options and ``mode``)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything needed to connect, derived once at open.

    Attributes:
        url: The storage URL without query (its ``str`` masks the password).
        options: The validated options.
    """

    url: StorageURL
    options: Mapping[str, Any]

    @classmethod
    def of(cls, url: StorageURL, options: Mapping[str, Any]) -> Settings:
        """Settings for a URL without query and options resolved by the core.

        Raises:
            InvalidURLError: The URL names no database.
        """
        if not url.database:
            raise InvalidURLError(
                f"{url} names no database: write optuna+postgresql://user:pw@host:port/DBNAME"
            )
        return cls(url, dict(options))

    @property
    def read_only(self) -> bool:
        """Opened with ``mode=ro``: nothing is created or changed."""
        return self.options.get("mode") == "ro"

    @property
    def write_behind(self) -> bool:
        return bool(self.options.get("write_behind", True))

    @property
    def flush_interval(self) -> float:
        return float(self.options.get("flush_interval") or 1.0)

    @property
    def masked(self) -> str:
        """The URL with the password masked, for messages."""
        return self.url.render()

    @property
    def rdb_url_masked(self) -> str:
        """The equivalent RDBStorage URL, password masked (for upgrade instructions)."""
        return self.url.with_scheme("postgresql").render_as_string(hide_password=True)

    def host_port(self) -> tuple[str, int]:
        """The server's host and port, with libpq's defaults."""
        return self.url.host or "localhost", self.url.port or 5432

    def opt(self, name: str) -> Any:
        return self.options.get(name)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect`` / ``asyncpg.create_pool``."""
        server_settings = {"application_name": self.opt("application_name") or "osk-postgres"}
        timeout = self.opt("statement_timeout")
        if timeout:
            server_settings["statement_timeout"] = str(int(timeout * 1000))
        if self.opt(SYNC_OPTION_NAME):
            server_settings["synchronous_commit"] = self.opt(SYNC_OPTION_NAME)
        if self.read_only:  # the server itself refuses every write of these sessions
            server_settings["default_transaction_read_only"] = "on"
        host, port = self.host_port()
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": self.url.username,
            "password": self.url.password,
            "database": self.url.database,
            "timeout": self.opt("connect_timeout"),
            "server_settings": server_settings,
        }
        ssl_arg = self.ssl_argument()
        if ssl_arg is not None:
            kwargs["ssl"] = ssl_arg
        return kwargs

    def sslmode(self) -> str | None:
        """The TLS mode to connect with; None leaves it to the drivers (``PGSSLMODE``, else
        ``prefer``).

        Unset, on a loopback host (``localhost``, 127.0.0.0/8, ::1) it is ``allow``: a
        plaintext connection, and TLS only if the server refuses plaintext (a ``hostssl``
        rule). Traffic on loopback never leaves the machine, and TLS there cost 12-27 us of
        client CPU per round trip (asyncio's TLS layer is Python), ~10% of a trial. Elsewhere
        it is libpq's ``prefer``. An explicit ``sslmode`` or ``PGSSLMODE`` always wins.
        """
        mode: str | None = self.opt("sslmode")
        if mode is not None or os.environ.get("PGSSLMODE"):
            return mode
        return "allow" if _is_loopback(self.host_port()[0]) else None

    def ssl_argument(self) -> ssl.SSLContext | str | None:
        """The ``ssl`` argument for asyncpg: a mode string or an SSLContext built from files."""
        files = [self.opt(k) for k in ("sslrootcert", "sslcert", "sslkey")]
        if not any(files):
            return self.sslmode()
        mode: str | None = self.opt("sslmode")  # files need an explicit mode that uses them
        if mode in (None, "disable", "allow", "prefer"):
            raise InvalidOptionError(
                "sslrootcert/sslcert/sslkey need sslmode=require, verify-ca or verify-full "
                f"(got sslmode={mode!r}) for {self.masked}"
            )
        root, cert, key = files
        verify = mode in ("verify-ca", "verify-full")
        if verify and not root:
            raise InvalidOptionError(
                f"sslmode={mode} needs sslrootcert=<CA file> to verify the server ({self.masked})"
            )
        try:
            context = ssl.create_default_context(cafile=root if verify else None)
            context.check_hostname = mode == "verify-full"
            if not verify:
                context.verify_mode = ssl.CERT_NONE
            if cert:
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as err:
            raise InvalidOptionError(
                f"cannot load the TLS files given for {self.masked}: {err}"
            ) from None
        return context

    def psycopg2_query(self) -> dict[str, str]:
        """TLS and timeout settings for the SQLAlchemy/psycopg2 engine used for the schema."""
        query = {k: self.opt(k) for k in ("sslrootcert", "sslcert", "sslkey")}
        query["sslmode"] = self.sslmode()
        query = {k: v for k, v in query.items() if v}
        query["connect_timeout"] = str(max(1, int(self.opt("connect_timeout") or 10)))
        return query


def _is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine over loopback (a name other than ``localhost`` is
    not resolved: it counts as remote)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name, or a Unix socket directory (never TLS anyway)
        return False
