"""A connection that fails says so in one line: which server and database (password masked),
what went wrong and the fix; no driver traceback, in Python and from ``osk info``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

import optuna_storage_kit as osk
from osk_postgres import PostgresConnectionError

from ._private_server import PrivateServer, free_port, private_server, unavailable_reason
from .conftest import kit_url


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with private_server() as started:
        yield started


@pytest.fixture(scope="module")
def not_postgres() -> Iterator[int]:
    """A port where something that is not Postgres answers (an HTTP-ish server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()


SECRET = "secret-in-the-url"

# (case, needs the private server, URL for the case, error class, words the message must hold)
Case = tuple[str, bool, Callable[..., str], type[Exception], tuple[str, ...]]
CASES: list[Case] = [
    (
        "server-down",
        False,
        lambda s, p: f"optuna+postgresql://u:{SECRET}@127.0.0.1:{free_port()}/db",
        PostgresConnectionError,
        ("/db", "nothing accepts connections", "start the server"),
    ),
    (
        "wrong-port",
        False,
        lambda s, p: f"optuna+postgresql://u:{SECRET}@127.0.0.1:{p}/db",
        PostgresConnectionError,
        ("127.0.0.1:{p}/db", "does not answer as a Postgres server", "fix the port"),
    ),
    (
        "missing-database",
        False,
        lambda s, p: kit_url("osk_pg_no_such_db").replace("postgres@", f"postgres:{SECRET}@"),
        osk.StoreNotFoundError,
        ("osk_pg_no_such_db", "createdb"),
    ),
    (
        "missing-role",
        False,
        lambda s, p: kit_url("postgres").replace("postgres@", f"osk_no_role:{SECRET}@"),
        PostgresConnectionError,
        ("/postgres", "osk_no_role", "does not exist"),
    ),
    (
        "wrong-password",
        True,
        lambda s, p: s.url(password=SECRET),
        PostgresConnectionError,
        ("/postgres", "password authentication failed", "right password"),
    ),
    (
        "tls-refused",
        True,
        lambda s, p: s.url(password=SECRET, sslmode="require"),
        PostgresConnectionError,
        ("/postgres", "does not offer TLS", "sslmode=prefer"),
    ),
]


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def case(
    request: pytest.FixtureRequest, not_postgres: int
) -> tuple[str, type[Exception], tuple[str, ...]]:
    _, needs_server, make, error, words = request.param
    url = make(request.getfixturevalue("server") if needs_server else None, not_postgres)
    return url, error, tuple(w.replace("{p}", str(not_postgres)) for w in words)


def test_one_clear_error(case: tuple[str, type[Exception], tuple[str, ...]]) -> None:
    url, error, words = case
    with pytest.raises(error) as info:
        osk.open_storage(url, connect_timeout=10, reconnect_timeout=0)
    message = str(info.value)
    assert all(word in message for word in words), message
    assert SECRET not in message and "***" in message
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_osk_info_prints_one_line(case: tuple[str, type[Exception], tuple[str, ...]]) -> None:
    url, _, words = case
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "osk"), "info", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert all(word in lines[0] for word in words)
    assert SECRET not in done.stderr + done.stdout
