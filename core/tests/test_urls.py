from __future__ import annotations

import logging
import pickle

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit import StorageURL


@pytest.mark.parametrize(
    ("url", "scheme", "host", "database"),
    [
        ("optuna+sqlite:///x.db", "sqlite", None, "x.db"),
        ("optuna+sqlite:////abs/dir/x.db", "sqlite", None, "/abs/dir/x.db"),
        ("optuna+memory://", "memory", None, None),
        ("optuna+memory://shared", "memory", "shared", None),
        ("optuna+journal:///runs/s.log", "journal", None, "runs/s.log"),
        ("optuna+postgresql://u:pw@db.example:6543/optuna", "postgresql", "db.example", "optuna"),
    ],
)
def test_parts(url: str, scheme: str, host: str | None, database: str | None) -> None:
    parsed = StorageURL(url)
    assert (parsed.scheme, parsed.host, parsed.database) == (scheme, host, database)


def test_query_and_port() -> None:
    parsed = StorageURL("optuna+postgresql://u:pw@h:6543/db?sslmode=require&pool_size=3")
    assert parsed.port == 6543
    assert dict(parsed.query) == {"sslmode": "require", "pool_size": "3"}
    assert dict(parsed.without_query().query) == {}
    assert parsed.without_query().password == "pw"


def test_password_masked_in_str_repr_and_render() -> None:
    parsed = StorageURL("optuna+postgresql://alice:s3cr3t@h/db")
    for text in (str(parsed), repr(parsed), parsed.render(), f"{parsed}"):
        assert "s3cr3t" not in text
        assert "alice:***@h" in text
    assert "s3cr3t" in parsed.render(hide_password=False)
    assert parsed.password == "s3cr3t"


def test_with_scheme_gives_sqlalchemy_url() -> None:
    parsed = StorageURL("optuna+postgresql://alice:s3cr3t@h/db")
    plain = parsed.with_scheme("postgresql+psycopg2")
    assert plain.render_as_string(hide_password=False) == "postgresql+psycopg2://alice:s3cr3t@h/db"


def test_equality_hash_pickle() -> None:
    a = StorageURL("optuna+memory://x")
    assert a == StorageURL("optuna+memory://x") and hash(a) == hash(StorageURL(a))
    assert pickle.loads(pickle.dumps(a)) == a
    assert a != StorageURL("optuna+memory://y")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("sqlite:///x.db", "must start with 'optuna+'"),
        ("postgresql://u:topsecret@h/db", "must start with 'optuna+'"),
        ("optuna+://x", "no scheme after"),
        ("optuna+postgresql://u:topsecret@h:notaport/db", "cannot parse"),
    ],
)
def test_bad_urls_explain_and_mask(url: str, needle: str) -> None:
    with pytest.raises(osk.InvalidURLError) as info:
        StorageURL(url)
    assert needle in str(info.value)
    assert "topsecret" not in str(info.value)


def test_non_string_url() -> None:
    with pytest.raises(osk.InvalidURLError, match="must be a str"):
        StorageURL(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("weird://u:pw@h:notaport/db", "weird://u:***@h:notaport/db"),
        ("no-scheme-here", "no-scheme-here"),
    ],
)
def test_mask_url_never_raises(url: str, masked: str) -> None:
    assert osk.mask_url(url) == masked


def test_password_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="optuna_storage_kit")
    osk.open_storage("optuna+memory://")
    with pytest.raises(osk.NoSuchBackendError) as info:
        osk.open_storage("optuna+nosuch://alice:hunter2@h/db")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in caplog.text
