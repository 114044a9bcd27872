"""``KitStorage.aio``: a backend's async methods behind the same policy as the sync ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optuna_storage_kit.runtime.serialization import check_attr

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study._study_direction import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

    from optuna_storage_kit.runtime.kit_storage import KitStorage

__all__ = ["StrictAsyncStorage"]


class StrictAsyncStorage:
    """The backend's ``aio`` object with the serialization policy and the read-only rule.

    Writes check their values (and the storage's ``mode``) exactly as
    :class:`~optuna_storage_kit.KitStorage` does, then await the backend's coroutine; reads
    and the backend's extras (``flush()``) are the backend's own. See
    :mod:`optuna_storage_kit.spec.aio` for the contract.
    """

    def __init__(self, inner: Any, owner: KitStorage) -> None:
        self._inner = inner
        self._owner = owner

    @property
    def inner(self) -> Any:
        """The backend's own ``aio`` object."""
        return self._inner

    def __repr__(self) -> str:
        return f"<aio of {self._owner!r}>"

    def __getattr__(self, name: str) -> Any:
        # Reads of the protocol and the backend's extras; writes are defined below.
        if name.startswith("__") or name in ("_inner", "_owner"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    # -- writes (each one checked, as in KitStorage) ----------------------------------------
    async def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        self._owner._writable("create a study")
        return int(await self._inner.create_new_study(directions, study_name))

    async def delete_study(self, study_id: int) -> None:
        self._owner._writable("delete a study")
        await self._inner.delete_study(study_id)

    async def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._owner._writable("set a study attribute")
        value = check_attr(key, value, what=f"user attribute {key!r} of study {study_id}")
        await self._inner.set_study_user_attr(study_id, key, value)

    async def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._owner._writable("set a study attribute")
        value = check_attr(key, value, what=f"system attribute {key!r} of study {study_id}")
        await self._inner.set_study_system_attr(study_id, key, value)

    async def create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int:
        from optuna_storage_kit.runtime.kit_storage import _checked_template

        self._owner._writable("create a trial")
        if template_trial is not None:
            template_trial = _checked_template(template_trial, study_id)
        return int(await self._inner.create_new_trial(study_id, template_trial))

    async def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._owner._writable("set a trial param")
        await self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)

    async def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        self._owner._writable("change a trial's state")
        return bool(await self._inner.set_trial_state_values(trial_id, state, values))

    async def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._owner._writable("report an intermediate value")
        await self._inner.set_trial_intermediate_value(trial_id, step, intermediate_value)

    async def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._owner._writable("set a trial attribute")
        value = check_attr(key, value, what=f"user attribute {key!r} of trial id {trial_id}")
        await self._inner.set_trial_user_attr(trial_id, key, value)

    async def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._owner._writable("set a trial attribute")
        value = check_attr(key, value, what=f"system attribute {key!r} of trial id {trial_id}")
        await self._inner.set_trial_system_attr(trial_id, key, value)

    async def record_heartbeat(self, trial_id: int) -> None:
        self._owner._writable("record a heartbeat")
        await self._inner.record_heartbeat(trial_id)
