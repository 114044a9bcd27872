"""``KitStorage.aio``: the async API applies the serialization policy and the read-only rule.

The backend here is the real memory backend given an ``aio`` object of real coroutines (no
mock of what is stored into): whatever reaches the store is read back through the sync API.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import numpy as np
import pytest
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk
from optuna_storage_kit.default_plugins.memory import MemoryStorage
from optuna_storage_kit.spec.aio import ASYNC_METHODS, AsyncStorage


class _Coroutines:
    """Every method of the async contract, as a coroutine over a sync storage."""

    def __init__(self, sync: MemoryStorage) -> None:
        self._sync = sync

    def __getattr__(self, name: str) -> Any:
        if name not in ASYNC_METHODS and name != "record_heartbeat":
            raise AttributeError(name)
        method = getattr(self._sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return method(*args, **kwargs)

        return call


class _WithAio(MemoryStorage):
    @property
    def aio(self) -> _Coroutines:
        return _Coroutines(self)


def _storage(**options: Any) -> osk.KitStorage:
    backend = osk.Backend(
        name="aio-test",
        schemes=("aiotest",),
        version="0",
        spec_version=osk.SPEC_VERSION,
        open=lambda url, opts: _WithAio(),
        capabilities=osk.Capabilities(async_api=True, persistent=True, read_only=True),
    )
    return osk.KitStorage(
        _WithAio(), backend=backend, url=osk.StorageURL("optuna+aiotest://x"), options=options
    )


def test_async_contract_lists_every_abstract_storage_method() -> None:
    from optuna.storages import BaseStorage

    abstract = set(BaseStorage.__abstractmethods__)
    assert abstract <= ASYNC_METHODS
    assert ASYNC_METHODS - abstract == {"get_trial_id_from_study_id_trial_number"}
    for name in ASYNC_METHODS:
        assert inspect.iscoroutinefunction(getattr(AsyncStorage, name)), name


@pytest.mark.parametrize(
    "write",
    [
        lambda aio, s, t: aio.set_trial_user_attr(t, "k", {1: 2}),
        lambda aio, s, t: aio.set_trial_system_attr(t, "k", np.int64(1)),
        lambda aio, s, t: aio.set_study_user_attr(s, "k", {1, 2}),
        lambda aio, s, t: aio.set_study_system_attr(s, "k", b"x"),
    ],
    ids=["trial-user", "trial-system", "study-user", "study-system"],
)
def test_async_writes_apply_the_serialization_policy(write: Any) -> None:
    """The side door of issue 13.14: ``{1: 2}`` was stored as ``{"1": 2}``."""
    storage = _storage()
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    trial_id = storage.create_new_trial(study_id)
    with pytest.raises(osk.SerializationError, match="'k'"):
        asyncio.run(write(storage.aio, study_id, trial_id))
    assert storage.get_trial(trial_id).user_attrs == {}
    assert storage.get_trial(trial_id).system_attrs == {}
    assert storage.get_study_user_attrs(study_id) == {}
    assert storage.get_study_system_attrs(study_id) == {}


def test_async_writes_store_normalised_values() -> None:
    storage = _storage()

    async def main() -> int:
        study_id = await storage.aio.create_new_study([StudyDirection.MINIMIZE], "s")
        trial_id = await storage.aio.create_new_trial(study_id)
        await storage.aio.set_trial_user_attr(trial_id, "t", (1, np.float64(2.5)))
        await storage.aio.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
        return trial_id

    trial = storage.get_trial(asyncio.run(main()))
    assert trial.user_attrs == {"t": [1, 2.5]} and trial.state == TrialState.COMPLETE
    assert type(trial.user_attrs["t"][1]) is float


def test_async_template_trial_is_checked() -> None:
    storage = _storage()
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    template = FrozenTrial(
        number=-1,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={"bad": np.arange(2)},
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    with pytest.raises(osk.SerializationError, match="'bad'"):
        asyncio.run(storage.aio.create_new_trial(study_id, template))
    assert storage.get_all_trials(study_id) == []


def test_async_writes_refused_when_read_only() -> None:
    storage = _storage(mode="ro")
    with pytest.raises(osk.ReadOnlyStorageError):
        asyncio.run(storage.aio.create_new_study([StudyDirection.MINIMIZE], "s"))
    assert storage.get_all_studies() == []
    assert asyncio.run(storage.aio.get_all_studies()) == []  # reads go through


def test_aio_missing_is_an_attribute_error() -> None:
    storage = osk.open_storage("optuna+memory://")
    assert not hasattr(storage, "aio")
    with pytest.raises(AttributeError):
        storage.aio  # noqa: B018


def test_async_contract_is_documented_like_the_hookspecs() -> None:
    from optuna_storage_kit.spec import aio

    assert "Since spec version" in (aio.__doc__ or "")
    for name in ASYNC_METHODS:
        assert inspect.getdoc(getattr(AsyncStorage, name)), f"{name} is not documented"
