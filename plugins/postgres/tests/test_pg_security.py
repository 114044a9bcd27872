"""Passwords never shown; TLS options reach the connection; values are bound, not spliced."""

from __future__ import annotations

import logging
import os

import optuna
import pytest
from optuna.study import StudyDirection

import optuna_storage_kit as osk

from .conftest import admin_execute, kit_url

SECRET = "pw-that-must-not-leak"


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


def test_password_is_masked_in_reprs_and_logs(
    empty_tables: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    storage = osk.open_storage(_with_password(kit_url(empty_tables)))
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    texts = [repr(storage), str(storage.url), repr(storage.inner), repr(storage.inner.settings)]
    texts += [r.getMessage() for r in caplog.records]
    assert all(SECRET not in text for text in texts)
    assert "***" in repr(storage)
    storage.inner.close()


# A failed or TLS connection attempt can leave asyncpg's socket to the garbage collector
# (rarely, under load); collect it here so that its ResourceWarning is not blamed on a later test.
_COLLECTS_SOCKETS = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@_COLLECTS_SOCKETS
def test_connection_error_does_not_show_the_password() -> None:
    url = _with_password(kit_url("osk_pg_no_such_database", connect_timeout=5))
    with pytest.raises(Exception) as info:
        osk.open_storage(url, reconnect_timeout=0.0)
    assert "osk_pg_no_such_database" in str(info.value)
    chain, err = [], info.value
    while err is not None:
        chain.append(f"{err!r} {err}")
        err = err.__cause__ or err.__context__
    assert all(SECRET not in text for text in chain)
    import gc

    gc.collect()


def test_names_and_values_are_bound_parameters(empty_tables: str) -> None:
    storage = osk.open_storage(kit_url(empty_tables))
    nasty = "x'); DROP TABLE trials; --"
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], study_name=nasty)
    storage.set_study_user_attr(study_id, nasty, {nasty: [nasty]})
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_user_attr(trial_id, nasty, nasty)
    assert storage.get_study_id_from_name(nasty) == study_id
    assert storage.get_study_user_attrs(study_id) == {nasty: {nasty: [nasty]}}
    assert storage.get_trial(trial_id).user_attrs == {nasty: nasty}
    assert admin_execute("SELECT count(*) FROM trials", database=empty_tables) == [(1,)]
    storage.inner.close()


def _server_tls() -> str | None:
    """The server's certificate file when it serves TLS and we can read it, else None."""
    if admin_execute("SHOW ssl")[0][0] != "on":
        return None
    cert = admin_execute("SHOW ssl_cert_file")[0][0]
    return cert if os.access(cert, os.R_OK) else None


requires_tls = pytest.mark.skipif(_server_tls() is None, reason="the test server has no TLS")


def _tls_sessions(database: str, name: str) -> list[tuple]:
    return admin_execute(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid "
        "WHERE a.datname = %s AND a.application_name = %s",
        (database, name),
        database=database,
    )


@requires_tls
@_COLLECTS_SOCKETS
@pytest.mark.parametrize("mode", ["require", "prefer"])  # prefer: even on loopback, if asked
def test_sslmode_that_asks_for_tls_encrypts(empty_tables: str, mode: str) -> None:
    storage = osk.open_storage(
        kit_url(empty_tables, sslmode=mode, application_name=f"osk-tls-{mode}")
    )
    storage.create_new_study([StudyDirection.MINIMIZE])
    sessions = _tls_sessions(empty_tables, f"osk-tls-{mode}")
    assert sessions and all(ssl for (ssl,) in sessions)
    storage.inner.close()
    import gc

    gc.collect()


@requires_tls
def test_verify_ca_with_root_certificate(empty_tables: str) -> None:
    cert = _server_tls()
    storage = osk.open_storage(
        kit_url(empty_tables, sslmode="verify-ca", sslrootcert=cert, application_name="osk-ca")
    )
    storage.create_new_study([StudyDirection.MINIMIZE])
    assert all(ssl for (ssl,) in _tls_sessions(empty_tables, "osk-ca"))
    storage.inner.close()


@requires_tls
def test_verify_full_rejects_a_certificate_for_another_host(empty_tables: str) -> None:
    cert = _server_tls()
    url = kit_url(empty_tables, sslmode="verify-full", sslrootcert=cert, reconnect_timeout=0)
    with pytest.raises(Exception, match=r"(?i)certificate|hostname"):
        osk.open_storage(url)


def test_certificate_files_need_a_verifying_mode(empty_tables: str) -> None:
    with pytest.raises(osk.InvalidOptionError, match="sslmode"):
        osk.open_storage(kit_url(empty_tables, sslrootcert="/nonexistent/ca.pem"))
    with pytest.raises(osk.InvalidOptionError, match="cannot load the TLS files"):
        osk.open_storage(kit_url(empty_tables, sslmode="verify-ca", sslrootcert="/nonexistent"))


def _sslmode(host: str, **options: object) -> str | None:
    from osk_postgres._config import Settings

    url = osk.StorageURL(f"optuna+postgresql://u@{host}:5432/db")
    return Settings.of(url, options).sslmode()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.9", "localhost", "[::1]"])
def test_sslmode_on_loopback_defaults_to_allow(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert _sslmode(host) == "allow"
    assert _sslmode(host, sslmode="prefer") == "prefer"  # explicit wins
    monkeypatch.setenv("PGSSLMODE", "require")
    assert _sslmode(host) is None  # the drivers read PGSSLMODE themselves


@pytest.mark.parametrize("host", ["db.example.com", "10.0.0.5", "[2001:db8::1]"])
def test_sslmode_elsewhere_is_left_to_the_drivers(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert _sslmode(host) is None  # asyncpg's and libpq's prefer


@_COLLECTS_SOCKETS
def test_loopback_connections_are_plaintext_by_default(
    empty_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    storage = osk.open_storage(kit_url(empty_tables, application_name="osk-loopback"))
    optuna.create_study(storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), 2)
    sessions = _tls_sessions(empty_tables, "osk-loopback")
    assert sessions and not any(ssl for (ssl,) in sessions)
    storage.inner.close()
