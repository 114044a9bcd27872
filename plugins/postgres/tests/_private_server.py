"""A throw-away Postgres server of the installed version: password auth and no TLS, which the
shared test server (trust auth, TLS on) cannot show. Started with initdb and pg_ctl."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

__all__ = ["PrivateServer", "free_port", "private_server", "unavailable_reason"]

_ROOT = os.geteuid() == 0
_OS_USER = "postgres"  # Postgres refuses to run as root


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    debian = "/usr/lib/postgresql"  # Debian keeps the server tools off PATH
    versions = sorted(os.listdir(debian), reverse=True) if os.path.isdir(debian) else []
    for version in versions:
        path = os.path.join(debian, version, "bin", name)
        if os.access(path, os.X_OK):
            return path
    return None


def unavailable_reason() -> str | None:
    """Why no private server can be started here, or None."""
    if _tool("initdb") is None or _tool("pg_ctl") is None:
        return "initdb/pg_ctl not found: a private Postgres server cannot be started"
    if _ROOT:
        try:
            import pwd

            pwd.getpwnam(_OS_USER)
        except KeyError:
            return "running as root without a 'postgres' OS user to run a private server"
    return None


def free_port() -> int:
    """A loopback TCP port nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class PrivateServer:
    port: int
    user: str
    password: str
    folder: str = ""
    settings: str = ""

    def url(self, database: str = "postgres", password: str | None = None, **query: str) -> str:
        """``optuna+postgresql://`` URL for a database of this server."""
        text = f"optuna+postgresql://{self.user}:{password or self.password}@127.0.0.1:"
        text += f"{self.port}/{database}"
        if query:
            text += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return text

    def restart(self) -> None:
        """Restart the server for real (``pg_ctl restart``: every connection is cut)."""
        pg_ctl = _tool("pg_ctl")
        assert pg_ctl is not None
        data, log = os.path.join(self.folder, "data"), os.path.join(self.folder, "log")
        _run(pg_ctl, "-D", data, "-o", self.settings, "-l", log, "-w", "restart")


def _run(*args: str) -> None:
    command = ["runuser", "-u", _OS_USER, "--", *args] if _ROOT else list(args)
    subprocess.run(command, check=True, capture_output=True, timeout=300)


@contextlib.contextmanager
def private_server() -> Iterator[PrivateServer]:
    """Start a server (scram-sha-256, ssl=off) on a free port; stop and delete it afterwards."""
    folder = tempfile.mkdtemp(prefix="osk_pg_private_")
    port = free_port()
    settings = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c ssl=off -c fsync=off "
        f"-c unix_socket_directories={folder} -c max_connections=20 -c shared_buffers=16MB"
    )
    server = PrivateServer(port, "osk_owner", "private-server-secret", folder, settings)
    data = os.path.join(folder, "data")
    pg_ctl = _tool("pg_ctl")
    assert pg_ctl is not None
    try:
        password_file = os.path.join(folder, "pw")
        with open(password_file, "w") as out:
            out.write(server.password + "\n")
        if _ROOT:
            shutil.chown(folder, _OS_USER)
            shutil.chown(password_file, _OS_USER)
        initdb = _tool("initdb")
        assert initdb is not None
        _run(
            initdb,
            "-D",
            data,
            "-U",
            server.user,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--no-sync",
        )
        _run(pg_ctl, "-D", data, "-o", settings, "-l", os.path.join(folder, "log"), "-w", "start")
        yield server
    finally:
        with contextlib.suppress(Exception):
            _run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
