"""Optuna's storage methods as typed coroutines over an :class:`~osk_postgres._core.AsyncCore`,
shared by :class:`~osk_postgres.AsyncPostgresStorage` and ``PostgresStorage.aio``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Sequence
from typing import Any, TypeVar

from optuna.distributions import BaseDistribution
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from osk_postgres._core import AsyncCore

__all__ = ["AsyncMethods"]

T = TypeVar("T")


class AsyncMethods:
    """Each method hands one call of the core to :meth:`_call`, which says where it runs."""

    async def _call(self, call: Callable[[AsyncCore], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return await self._call(lambda c: c.create_new_study(directions, study_name))

    async def delete_study(self, study_id: int) -> None:
        await self._call(lambda c: c.delete_study(study_id))

    async def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        await self._call(lambda c: c.set_study_user_attr(study_id, key, value))

    async def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        await self._call(lambda c: c.set_study_system_attr(study_id, key, value))

    async def get_study_id_from_name(self, study_name: str) -> int:
        return await self._call(lambda c: c.get_study_id_from_name(study_name))

    async def get_study_name_from_id(self, study_id: int) -> str:
        return await self._call(lambda c: c.get_study_name_from_id(study_id))

    async def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return await self._call(lambda c: c.get_study_directions(study_id))

    async def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return await self._call(lambda c: c.get_study_user_attrs(study_id))

    async def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return await self._call(lambda c: c.get_study_system_attrs(study_id))

    async def get_all_studies(self) -> list[FrozenStudy]:
        return await self._call(lambda c: c.get_all_studies())

    async def create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int:
        return await self._call(lambda c: c.create_new_trial(study_id, template_trial))

    async def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        await self._call(
            lambda c: c.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        )

    async def get_trial_id_from_study_id_trial_number(
        self, study_id: int, trial_number: int
    ) -> int:
        return await self._call(
            lambda c: c.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        )

    async def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        return await self._call(lambda c: c.set_trial_state_values(trial_id, state, values))

    async def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        await self._call(
            lambda c: c.set_trial_intermediate_value(trial_id, step, intermediate_value)
        )

    async def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        await self._call(lambda c: c.set_trial_user_attr(trial_id, key, value))

    async def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        await self._call(lambda c: c.set_trial_system_attr(trial_id, key, value))

    async def get_trial(self, trial_id: int) -> FrozenTrial:
        return await self._call(lambda c: c.get_trial(trial_id))

    async def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return await self._call(lambda c: c.get_all_trials(study_id, deepcopy, states))

    async def record_heartbeat(self, trial_id: int) -> None:
        await self._call(lambda c: c.record_heartbeat(trial_id))

    async def flush(self) -> None:
        """Send every buffered write of this storage's running trials now."""
        await self._call(lambda c: c.flush())
