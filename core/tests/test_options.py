from __future__ import annotations

from collections.abc import Callable

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit import Option
from optuna_storage_kit.spec.options import resolve_options

OPTIONS = (
    Option("timeout", float, 5.0, "Seconds to wait.", minimum=0),
    Option("retries", int, 3, "Attempts.", minimum=1),
    Option("fsync", bool, True, "Sync writes."),
    Option("mode", str, "wal", "Journal mode.", choices=("wal", "delete")),
    Option("on_open", callable, None, "Hook.", in_url=False),
)


def resolve(
    query: dict[str, str] | None = None, heartbeat: bool = False, **kwargs: object
) -> dict[str, object]:
    return resolve_options(
        OPTIONS, query or {}, kwargs, backend="fake", heartbeat_supported=heartbeat
    )


def test_defaults_filled() -> None:
    assert resolve() == {
        "timeout": 5.0,
        "retries": 3,
        "fsync": True,
        "mode": "wal",
        "on_open": None,
    }


def test_url_values_are_typed() -> None:
    got = resolve({"timeout": "2.5", "retries": "7", "fsync": "off", "mode": "delete"})
    assert got["timeout"] == 2.5 and got["retries"] == 7 and got["fsync"] is False
    assert got["mode"] == "delete"


@pytest.mark.parametrize("raw", ["1", "true", "YES", "on"])
def test_bool_true_spellings(raw: str) -> None:
    assert resolve({"fsync": raw})["fsync"] is True


def test_keyword_int_accepted_for_float() -> None:
    got = resolve(timeout=2)
    assert got["timeout"] == 2.0 and isinstance(got["timeout"], float)


def test_unknown_option_lists_valid_ones() -> None:
    with pytest.raises(osk.InvalidOptionError) as info:
        resolve(timout=1)
    message = str(info.value)
    assert "unknown option 'timout'" in message
    assert "fsync, mode, on_open, retries, timeout" in message


@pytest.mark.parametrize(
    ("query", "kwargs", "needle"),
    [
        ({"retries": "many"}, {}, "option 'retries' must be int, got 'many' in the URL"),
        ({"fsync": "maybe"}, {}, "option 'fsync' must be bool"),
        ({}, {"retries": True}, "option 'retries' must be int, got bool"),
        ({}, {"retries": 0}, "must be at least 1"),
        ({}, {"mode": "truncate"}, "must be one of 'wal', 'delete'"),
        ({"on_open": "x"}, {}, "cannot be given in the URL; pass it as a keyword argument"),
        ({}, {"on_open": 3}, "option 'on_open' must be callable"),
        ({"retries": "2"}, {"retries": 2}, "given both in the URL and as a keyword argument"),
        ({"retries": ("1", "2")}, {}, "more than once in the URL"),
    ],
)
def test_invalid_values(query: dict[str, object], kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(osk.InvalidOptionError) as info:
        resolve_options(OPTIONS, query, kwargs, backend="fake", heartbeat_supported=False)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_heartbeat_options_refused_without_capability() -> None:
    with pytest.raises(osk.InvalidOptionError, match="does not support heartbeats"):
        resolve(heartbeat_interval=10)


def test_failed_trial_callback_is_a_deprecated_alias() -> None:
    def callback(study: object, trial: object) -> None: ...

    options = osk.HEARTBEAT_OPTIONS
    with pytest.warns(FutureWarning, match="heartbeat_stale_trial_callback"):
        got = resolve_options(
            options, {}, {"failed_trial_callback": callback}, backend="b", heartbeat_supported=True
        )
    assert got["heartbeat_stale_trial_callback"] is callback
    assert "failed_trial_callback" not in got
    with pytest.raises(osk.InvalidOptionError, match="only one of"):
        resolve_options(
            options,
            {},
            {"failed_trial_callback": callback, "heartbeat_stale_trial_callback": callback},
            backend="b",
            heartbeat_supported=True,
        )


def test_open_storage_validates_options_from_url_and_keywords(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    seen: dict[str, object] = {}

    def open_fake(url: osk.StorageURL, options: dict[str, object]) -> object:
        seen.update(options, url=url)
        return osk.open_storage("optuna+memory://").inner

    registry.register_backend(make_backend(open=open_fake, options=OPTIONS))
    from optuna_storage_kit.runtime.open import open_with

    storage = open_with(registry, "optuna+fake:///data?retries=5", {"timeout": 1})
    assert seen["retries"] == 5 and seen["timeout"] == 1.0 and seen["mode"] == "wal"
    assert str(seen["url"]) == "optuna+fake:///data"  # the query became options
    assert storage.backend_name == "fake"


def test_heartbeat_options_reach_memory_backend() -> None:
    storage = osk.open_storage("optuna+memory://?heartbeat_interval=5&grace_period=11")
    assert storage.get_heartbeat_interval() == 5
    assert storage.inner.grace_period == 11  # type: ignore[attr-defined]


SYNC = (
    osk.sync_option("normal", "How durable a commit is.", ("normal", "full"), aliases=("fsync",)),
)


def resolve_sync(query: dict[str, str], **kwargs: object) -> dict[str, object]:
    return resolve_options(SYNC, query, kwargs, backend="b", heartbeat_supported=False)


def test_sync_option_has_one_name_across_backends() -> None:
    assert SYNC[0].name == osk.SYNC_OPTION_NAME == "synchronous"
    assert resolve_sync({}) == {"synchronous": "normal"}
    assert resolve_sync({"synchronous": "full"}) == {"synchronous": "full"}


@pytest.mark.parametrize("where", ["url", "keyword"])
def test_a_former_name_still_works_with_a_warning(where: str) -> None:
    given: dict[str, str] = {"fsync": "full"}
    with pytest.warns(FutureWarning, match="option 'fsync' is deprecated: use 'synchronous'"):
        got = resolve_sync(given) if where == "url" else resolve_sync({}, **given)
    assert got == {"synchronous": "full"}


def test_a_former_name_is_validated_as_the_option() -> None:
    with (
        pytest.warns(FutureWarning),
        pytest.raises(osk.InvalidOptionError, match="'synchronous' must be one of"),
    ):
        resolve_sync({"fsync": "sometimes"})


def test_a_former_name_and_the_name_together_are_refused() -> None:
    with pytest.raises(osk.InvalidOptionError, match="give only one of 'synchronous' and 'fsync'"):
        resolve_sync({"fsync": "full", "synchronous": "full"})
    with pytest.warns(FutureWarning), pytest.raises(osk.InvalidOptionError, match="given both"):
        resolve_sync({"fsync": "full"}, synchronous="full")
