"""The async storage contract: what ``storage.aio`` offers when a backend claims ``async_api``.

A backend that claims :attr:`~optuna_storage_kit.Capabilities.async_api` gives its storage
object an ``aio`` attribute holding Optuna's storage methods as coroutines: the methods of
:class:`AsyncStorage` below, with the arguments, results and errors of the synchronous
``optuna.storages.BaseStorage`` methods of the same names. Users reach it through what
:func:`~optuna_storage_kit.open_storage` returns::

    storage = optuna_storage_kit.open_storage("optuna+postgresql://u:pw@host/db")
    trial_id = await storage.aio.create_new_trial(study_id)
    await storage.aio.set_trial_user_attr(trial_id, "note", {"epoch": 3})

``KitStorage.aio`` wraps the backend's ``aio`` object so that every write applies the same
serialization policy and read-only rule as the synchronous methods (a value that does not come
back unchanged from JSON raises :class:`~optuna_storage_kit.SerializationError` before anything
is written; a storage opened with ``mode=ro`` raises
:class:`~optuna_storage_kit.ReadOnlyStorageError`). A backend's ``aio`` object therefore must not
validate attribute values itself, exactly like its synchronous methods.

Rules for the backend's ``aio`` object:

* every method of :class:`AsyncStorage` is present and is a coroutine function
  (``inspect.iscoroutinefunction``); :data:`ASYNC_METHODS` lists their names;
* results are what the synchronous method of the same name returns for the same store, and
  errors are the exception types Optuna's ``BaseStorage`` promises (``KeyError``,
  ``optuna.exceptions.DuplicatedStudyError``, ``optuna.exceptions.UpdateFinishedTrialError``,
  ``ValueError``); the conformance kit runs its API, model and serialization tests through
  ``storage.aio`` too and compares;
* the coroutines may be awaited from any event loop (a backend that runs its I/O on a loop of
  its own hands the work over to it), and the same store may be used at the same time through
  the synchronous methods, from this and other processes;
* a write that returned is kept like a synchronous write of the same kind (see
  :attr:`~optuna_storage_kit.Capabilities.durable` and ``write_through``);
* ``record_heartbeat(trial_id)`` is also a coroutine when the backend claims ``heartbeat``;
  other extras (``flush()``, for example) are allowed and are reached through ``KitStorage.aio``
  unchanged.

Since spec version 2.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study._frozen import FrozenStudy
    from optuna.study._study_direction import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

__all__ = ["ASYNC_METHODS", "AsyncStorage"]


@runtime_checkable
class AsyncStorage(Protocol):
    """Optuna's storage methods as coroutines: the type of ``storage.aio``.

    Each method has the arguments, result and errors of the ``optuna.storages.BaseStorage``
    method of the same name (see its docstring there); only the methods that write are
    described here.
    """

    async def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        """Create a study; raises ``DuplicatedStudyError`` for a name already used (names that
        differ in any code point are different names)."""
        ...

    async def delete_study(self, study_id: int) -> None:
        """Delete a study and everything in it; raises ``KeyError`` for an unknown id."""
        ...

    async def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        """Store a study's user attribute (already checked by the policy)."""
        ...

    async def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        """Store a study's system attribute (already checked by the policy)."""
        ...

    async def get_study_id_from_name(self, study_name: str) -> int:
        """The id of the study of that exact name; ``KeyError`` if none."""
        ...

    async def get_study_name_from_id(self, study_id: int) -> str:
        """A study's name; ``KeyError`` for an unknown id."""
        ...

    async def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        """A study's directions; ``KeyError`` for an unknown id."""
        ...

    async def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        """A study's user attributes; ``KeyError`` for an unknown id."""
        ...

    async def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        """A study's system attributes; ``KeyError`` for an unknown id."""
        ...

    async def get_all_studies(self) -> list[FrozenStudy]:
        """Every study, sorted by id."""
        ...

    async def create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int:
        """Create a trial (RUNNING, or as the template says; the template's attributes are
        already checked by the policy)."""
        ...

    async def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        """Store a param of a running trial; ``UpdateFinishedTrialError`` once finished."""
        ...

    async def get_trial_id_from_study_id_trial_number(
        self, study_id: int, trial_number: int
    ) -> int:
        """A trial's id from its study and number; ``KeyError`` if none."""
        ...

    async def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Change a trial's state (``False`` when a RUNNING trial is set RUNNING again)."""
        ...

    async def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        """Store a reported value; ``UpdateFinishedTrialError`` once finished."""
        ...

    async def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Store a trial's user attribute (already checked by the policy)."""
        ...

    async def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Store a trial's system attribute (already checked by the policy)."""
        ...

    async def get_trial(self, trial_id: int) -> FrozenTrial:
        """A trial (a copy the caller may change); ``KeyError`` for an unknown id."""
        ...

    async def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        """A study's trials sorted by id, filtered by ``states``; ``KeyError`` if no study."""
        ...


ASYNC_METHODS: frozenset[str] = frozenset(
    name for name in vars(AsyncStorage) if not name.startswith("_")
)
"""The names of the coroutine methods every ``storage.aio`` has."""
