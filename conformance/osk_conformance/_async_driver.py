"""Drive a storage through its async API: the kit's tests, unchanged, on ``storage.aio``.

:class:`AsyncDriven` is a ``BaseStorage`` whose every method of the async contract
(``optuna_storage_kit.spec.aio.ASYNC_METHODS``) awaits ``storage.aio.<method>`` on an event loop of
its own; Optuna's other storage methods are built on those by ``BaseStorage`` itself. The API,
model and serialization tests run on it for backends claiming ``async_api``, so the async path
is held to the same results, errors and serialization policy as the sync one.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable, Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.spec.aio import ASYNC_METHODS

__all__ = ["AsyncDriven", "missing_async_methods"]


def missing_async_methods(aio: Any) -> list[str]:
    """The methods of the async contract that ``aio`` lacks or that are not coroutines."""
    return sorted(
        name for name in ASYNC_METHODS if not inspect.iscoroutinefunction(getattr(aio, name, None))
    )


class AsyncDriven(BaseStorage, BaseHeartbeat):
    """``storage`` with every call made through ``storage.aio`` (one thread at a time)."""

    def __init__(self, storage: BaseStorage) -> None:
        aio = getattr(storage, "aio", None)
        if aio is None:
            raise AssertionError(f"the backend claims async_api, but {storage!r} has no .aio")
        missing = missing_async_methods(aio)
        if missing:
            raise AssertionError(
                f"the backend claims async_api, but its storage.aio lacks coroutine methods "
                f"{', '.join(missing)} (see optuna_storage_kit.spec.aio)"
            )
        self._sync = storage
        self._aio = aio
        self._loop = asyncio.new_event_loop()
        weakref.finalize(self, self._loop.close)

    def _await(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._loop.run_until_complete(getattr(self._aio, name)(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_sync", "_aio", "_loop"):
            raise AttributeError(name)
        return getattr(self._sync, name)  # extras: osk_counters(), close(), capabilities

    def __repr__(self) -> str:
        return f"<AsyncDriven {self._sync!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the storage it drives (Optuna's tests pickle storages); a new loop after.
        return (AsyncDriven, (self._sync,))

    # -- the async contract ------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._await("create_new_study", directions, study_name))

    def delete_study(self, study_id: int) -> None:
        self._await("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._await("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._await("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._await("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._await("get_study_name_from_id", study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._await("get_study_directions", study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._await("get_study_user_attrs", study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._await("get_study_system_attrs", study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        return list(self._await("get_all_studies"))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._await("create_new_trial", study_id, template_trial))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._await("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._await("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return bool(self._await("set_trial_state_values", trial_id, state, values))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._await("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._await("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._await("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial: FrozenTrial = self._await("get_trial", trial_id)
        return trial

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return list(self._await("get_all_trials", study_id, deepcopy=deepcopy, states=states))

    # -- heartbeat: recorded through aio when offered, settings from the sync storage ---------
    def record_heartbeat(self, trial_id: int) -> None:
        if inspect.iscoroutinefunction(getattr(self._aio, "record_heartbeat", None)):
            self._await("record_heartbeat", trial_id)
        else:
            self._sync.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return list(self._sync._get_stale_trial_ids(study_id))  # type: ignore[attr-defined]

    def get_heartbeat_interval(self) -> int | None:
        get = getattr(self._sync, "get_heartbeat_interval", None)
        return get() if callable(get) else None

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        get = getattr(self._sync, "get_heartbeat_stale_trial_callback", None)
        return get() if callable(get) else None
