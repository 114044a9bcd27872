"""Options resolve exactly as ``open_storage`` resolves them, for the async API too; the claims
and the visibility delay follow ``write_behind`` and ``flush_interval``."""

from __future__ import annotations

import asyncio
from typing import Any

import optuna
import pytest

import optuna_storage_kit as osk
from osk_postgres import AsyncPostgresStorage

from .conftest import kit_url


def _callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    pass


def _both_ways(url: str, **options: Any) -> list[BaseException | None]:
    """The error (or None) of ``open_storage`` and of ``AsyncPostgresStorage``."""
    found: list[BaseException | None] = []
    for open_ in (osk.open_storage, AsyncPostgresStorage):
        try:
            opened = open_(url, **options)
        except osk.InvalidOptionError as err:
            found.append(err)
        else:
            found.append(None)
            if isinstance(opened, osk.KitStorage):
                opened.inner.close()
    return found


@pytest.mark.parametrize(
    ("query", "options", "message"),
    [
        ({"pool_size": ["1", "2"]}, {}, "more than once"),
        ({"pool_size": "1"}, {"pool_size": 2}, "both in the URL and as a keyword"),
        (
            {},
            {"heartbeat_stale_trial_callback": _callback, "failed_trial_callback": _callback},
            "give only one",
        ),
        ({"buffer_writes": "false"}, {}, "unknown option 'buffer_writes'"),
        ({"flush_interval": "0"}, {}, "at least"),
    ],
    ids=["repeated", "url-and-keyword", "two-callbacks", "old-name", "out-of-range"],
)
def test_async_storage_refuses_what_open_storage_refuses(
    empty_tables: str, query: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    url = kit_url(empty_tables)
    for name, value in query.items():
        for one in value if isinstance(value, list) else [value]:
            url += f"{'&' if '?' in url else '?'}{name}={one}"
    errors = _both_ways(url, **options)
    assert all(err is not None and message in str(err) for err in errors), errors


def test_deprecated_callback_name_warns_and_is_used(empty_tables: str) -> None:
    with pytest.warns(FutureWarning, match="failed_trial_callback"):
        storage = AsyncPostgresStorage(kit_url(empty_tables), failed_trial_callback=_callback)
    assert storage._core.settings.opt("heartbeat_stale_trial_callback") is _callback


def test_heartbeat_getters_come_from_the_options(empty_tables: str) -> None:
    storage = osk.open_storage(
        kit_url(empty_tables, heartbeat_interval=3),
        heartbeat_stale_trial_callback=_callback,
    )
    inner = storage.inner
    assert inner.get_heartbeat_interval() == 3
    assert inner.get_heartbeat_stale_trial_callback() is _callback
    assert inner.stale_after() == 6  # RDBStorage's rule: grace_period or 2 x interval
    inner.close()


@pytest.mark.parametrize(
    ("options", "write_through", "delay"),
    [({}, False, 1.0), ({"flush_interval": 2.5}, False, 2.5), ({"write_behind": False}, True, 0)],
    ids=["default", "flush-interval", "write-through"],
)
def test_claims_follow_the_options(
    empty_tables: str, options: dict[str, Any], write_through: bool, delay: float
) -> None:
    storage = osk.open_storage(kit_url(empty_tables, **options))
    assert storage.capabilities.write_through is write_through
    assert storage.capabilities.durable and storage.capabilities.read_only
    assert storage.visibility_delay_s == delay
    storage.inner.close()


def test_async_storage_sends_buffered_writes_on_its_timer(empty_tables: str) -> None:
    async def main() -> dict[str, Any]:
        url = kit_url(empty_tables, flush_interval=0.2)
        async with AsyncPostgresStorage(url) as writer, AsyncPostgresStorage(url) as reader:
            study_id = await writer.create_new_study([optuna.study.StudyDirection.MINIMIZE])
            trial_id = await writer.create_new_trial(study_id)
            await writer.set_trial_user_attr(trial_id, "seen", True)
            for _ in range(200):  # 20 s at most: 100 times the interval
                attrs = (await reader.get_trial(trial_id)).user_attrs
                if attrs:
                    return attrs
                await asyncio.sleep(0.1)
        return {}

    assert asyncio.run(main()) == {"seen": True}


@pytest.mark.parametrize("name", ["synchronous", "synchronous_commit"])
def test_sync_level_sets_the_sessions_synchronous_commit(empty_tables: str, name: str) -> None:
    # `synchronous` is the kit's one name for it; `synchronous_commit` is the former name.
    if name == "synchronous":
        storage = osk.open_storage(kit_url(empty_tables), **{name: "off"})
    else:
        with pytest.warns(FutureWarning, match="'synchronous_commit' is deprecated: use 'synch"):
            storage = osk.open_storage(kit_url(empty_tables), **{name: "off"})
    try:
        settings = storage.inner.settings
        assert settings.connect_kwargs()["server_settings"]["synchronous_commit"] == "off"
        optuna.create_study(storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), 2)
    finally:
        storage.inner.close()
