"""``StorageURL`` parses without SQLAlchemy, exactly as ``sqlalchemy.engine.make_url`` does."""

from __future__ import annotations

import pickle
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy.engine
import sqlalchemy.exc
from hypothesis import example, given, settings
from hypothesis import strategies as st

import optuna_storage_kit as osk
from optuna_storage_kit.runtime.urls import _parse

# Characters that mean something in a URL, and some that do not fit in one byte.
SPECIAL = ":@/?#&=+%;[] \\'\"!$*,~"
ALPHABET = st.sampled_from(list("abcXYZ019._-" + SPECIAL + "éß中🙂"))
TEXT = st.text(ALPHABET, max_size=12)


@st.composite
def component(draw: st.DrawFn, quote_it: bool | None = None, safe: str = "") -> str:
    """A URL part, percent-encoded as a careful user writes it, or raw as a careless one."""
    text = draw(TEXT)
    if quote_it is None:
        quote_it = draw(st.booleans())
    return quote(text, safe=safe) if quote_it else text


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.from_regex(r"[a-z][a-z0-9_+]{0,8}", fullmatch=True))
    url = f"optuna+{scheme}://"
    if draw(st.booleans()):
        url += draw(component())
        if draw(st.booleans()):
            url += ":" + draw(component())
        url += "@"
    url += draw(
        st.one_of(
            st.just(""),
            st.from_regex(r"[a-z0-9.-]{1,12}", fullmatch=True),
            st.just("[::1]"),
            st.just("[fe80::1%25eth0]"),
            component(),
        )
    )
    if draw(st.booleans()):
        url += ":" + draw(st.one_of(st.integers(0, 70000).map(str), TEXT))
    if draw(st.booleans()):
        url += "/" + draw(component(safe="/"))
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(st.sampled_from(["a", "b", "k y"]), TEXT), max_size=5))
        quoted = draw(st.booleans())
        url += "?" + "&".join(
            f"{quote_plus(k) if quoted else k}={quote_plus(v) if quoted else v}" for k, v in pairs
        )
    return url


def assert_same_as_sqlalchemy(url: str) -> None:
    try:
        expected: sqlalchemy.engine.URL | None = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        expected = None
    try:
        ours = _parse(url)
    except ValueError:
        assert expected is None, f"{url!r}: SQLAlchemy parses it as {expected!r}"
        with pytest.raises(osk.InvalidURLError, match="cannot parse"):
            osk.StorageURL(url)
        return
    assert expected is not None, f"{url!r}: SQLAlchemy refuses it, we parse it"
    assert (
        ours.drivername,
        ours.username,
        ours.password,
        ours.host,
        ours.port,
        ours.database,
        dict(ours.query),
    ) == (
        expected.drivername,
        expected.username,
        expected.password,
        expected.host,
        expected.port,
        expected.database,
        dict(expected.query),
    ), url
    for hide in (True, False):
        assert ours.render(hide_password=hide) == expected.render_as_string(hide_password=hide)
    if ours.drivername == "optuna+":
        with pytest.raises(osk.InvalidURLError, match="no scheme after"):
            osk.StorageURL(url)
        return
    parsed = osk.StorageURL(url)
    assert parsed.with_scheme("postgresql+psycopg2") == expected.set(
        drivername="postgresql+psycopg2"
    )
    assert osk.StorageURL(expected) == parsed  # built from a SQLAlchemy URL
    assert parsed.without_query() == osk.StorageURL(expected.set(query={}))
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    assert osk.mask_url(url) == expected.render_as_string(hide_password=True)


@settings(max_examples=600, deadline=None)
@given(urls())
@example("optuna+postgresql://al%40ice:p%40ss%3Aw%2Fo%23rd@db.example:6543/optuna?x=1&x=2&y=")
@example("optuna+postgresql://alice:p@ss:w/o#rd@db/optuna")
@example("optuna+postgresql://alice:pa%2Bss word@h/db?opt=a+b&opt=c%26d")
@example("optuna+postgresql://u:pw@[2001:db8::1]:5432/db")
@example("optuna+sqlite:////abs/dir/with space/x.db")
@example("optuna+sqlite:///rel%20dir/x.db?mode=ro")
@example("optuna+postgresql://u:pw@h:/db")
@example("optuna+postgresql://u:pw@h:+12/db")
@example("optuna+://x")
@example("optuna+journal:///x.log?synchronous=commit&synchronous=always&lock=flock")
def test_generated_urls_parse_as_in_sqlalchemy(url: str) -> None:
    assert_same_as_sqlalchemy(url)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_after_the_prefix_parses_as_in_sqlalchemy(rest: str) -> None:
    assert_same_as_sqlalchemy("optuna+x://" + rest)
    assert_same_as_sqlalchemy("optuna+" + rest)


def test_parsing_does_not_import_sqlalchemy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, optuna_storage_kit as osk\n"
        "u = osk.StorageURL('optuna+postgresql://u:p%40ss@h:1/db?a=1&a=2')\n"
        "assert (u.password, u.port, dict(u.query)) == ('p@ss', 1, {'a': ('1', '2')}), u\n"
        "print(osk.mask_url('postgresql://u:secret@h/db'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.splitlines()
    assert out == ["postgresql://u:***@h/db", "[]"]
