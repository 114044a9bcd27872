"""Proof backends for name identity and the async API (categories api, serialization)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Container, Sequence
from typing import Any

from broken_backends import MEMORY_CAPS, MemoryStorage, _declare, _kit, _memory
from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk
from optuna_storage_kit.spec.aio import ASYNC_METHODS


class _CaseInsensitive(MemoryStorage):  # type: ignore[misc, valid-type]
    """Compares study names as a case-insensitive collation would."""

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        if study_name is not None and self._by_name(study_name) is not None:
            raise DuplicatedStudyError(f"a study named like {study_name!r} exists")
        return int(super().create_new_study(directions, study_name))

    def get_study_id_from_name(self, study_name: str) -> int:
        found = self._by_name(study_name)
        if found is None:
            raise KeyError(study_name)
        return found

    def _by_name(self, name: str) -> int | None:
        for study in self.get_all_studies():
            if study.study_name.casefold() == name.casefold():  # the bug
                return int(study._study_id)
        return None


@_declare(MEMORY_CAPS)
def case_insensitive_names(directory: str, **options: Any) -> BaseStorage:
    """API: study names that differ only in case (or ß/ss) are the same study."""
    return _memory(_CaseInsensitive, directory, "case-insensitive-names", **options)


class _Coroutines:
    """The async contract as a backend offers it: coroutines over the sync storage."""

    def __init__(self, sync: BaseStorage) -> None:
        self._sync = sync

    def __getattr__(self, name: str) -> Any:
        if name not in ASYNC_METHODS and name != "record_heartbeat":
            raise AttributeError(name)
        method = getattr(self._sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return method(*args, **kwargs)

        call.__name__ = name
        return call


class _MemoryWithAio(MemoryStorage):  # type: ignore[misc, valid-type]
    @property
    def aio(self) -> _Coroutines:
        return _Coroutines(self)


ASYNC_CAPS = dataclasses.replace(MEMORY_CAPS, async_api=True)


@_declare(ASYNC_CAPS)
def memory_async_reference(directory: str, **options: Any) -> BaseStorage:
    """Correct: the reference with its methods also offered as coroutines (storage.aio)."""
    storage = _memory(_MemoryWithAio, directory, "memory-async-reference", **options)
    return _kit(storage.inner, "memory-async-reference", ASYNC_CAPS)


class _AsyncIgnoresStates(_Coroutines):
    async def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return list(self._sync.get_all_trials(study_id, deepcopy))  # the bug: no filter


class _MemoryAioDiffers(MemoryStorage):  # type: ignore[misc, valid-type]
    @property
    def aio(self) -> _Coroutines:
        return _AsyncIgnoresStates(self)


@_declare(ASYNC_CAPS)
def aio_differs(directory: str, **options: Any) -> BaseStorage:
    """API (through aio): storage.aio.get_all_trials ignores its state filter; the sync
    method is right."""
    storage = _memory(_MemoryAioDiffers, directory, "aio-differs", **options)
    return _kit(storage.inner, "aio-differs", ASYNC_CAPS)


class _SideDoor(osk.KitStorage):
    @property
    def aio(self) -> Any:
        return self.inner.aio  # the bug (issue 13.14): the backend's aio, without the policy


@_declare(ASYNC_CAPS)
def aio_side_door(directory: str, **options: Any) -> BaseStorage:
    """Serialization (through aio): storage.aio writes without the serialization policy."""
    storage = _memory(_MemoryWithAio, directory, "aio-side-door", **options)
    return _kit(storage.inner, "aio-side-door", ASYNC_CAPS, kind=_SideDoor)
