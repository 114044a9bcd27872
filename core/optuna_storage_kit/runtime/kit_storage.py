"""The wrapper that applies the serialization policy in front of every backend."""

from __future__ import annotations

import copy
from collections.abc import Callable, Container, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.errors import ReadOnlyStorageError
from optuna_storage_kit.runtime.serialization import check_attr

if TYPE_CHECKING:
    from collections.abc import Mapping

    from optuna.distributions import BaseDistribution

    from optuna_storage_kit.runtime.urls import StorageURL
    from optuna_storage_kit.spec.backend import Backend
    from optuna_storage_kit.spec.capabilities import Capabilities

__all__ = ["KitStorage"]


class KitStorage(BaseStorage, BaseHeartbeat):
    """What :func:`~optuna_storage_kit.open_storage` returns: a backend's storage behind the
    shared serialization policy.

    Every call goes to the backend's storage (:attr:`inner`) after attribute values are checked
    with the one policy (see :class:`~optuna_storage_kit.SerializationError`), so a rejected
    value is never written, whatever the backend. Heartbeat calls go to the backend when it
    supports them; otherwise heartbeats are reported as disabled. Other attributes (a backend's
    ``osk_counters()`` or async API) are forwarded to :attr:`inner`.

    Thread- and process-safety are those of the backend (see its capabilities).
    """

    def __init__(
        self,
        inner: BaseStorage,
        *,
        backend: Backend,
        url: StorageURL,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._inner = inner
        self._backend_name = backend.name
        self._url = url
        self._options: dict[str, Any] = dict(options or {})
        self._capabilities = backend.claims(self._options)
        self._visibility_delay_s = backend.visibility_delay(self._options)
        self._read_only = self._options.get("mode") == "ro"
        self._heartbeat = inner if isinstance(inner, BaseHeartbeat) else None

    @property
    def capabilities(self) -> Capabilities:
        """What the backend claims for the options this storage was opened with."""
        return self._capabilities

    @property
    def visibility_delay_s(self) -> float:
        """Seconds a running trial's writes may stay invisible to other processes."""
        return self._visibility_delay_s

    @property
    def read_only(self) -> bool:
        """Whether this storage was opened with ``mode=ro``: every write raises."""
        return self._read_only

    def _writable(self, what: str) -> None:
        if self._read_only:
            raise ReadOnlyStorageError(
                f"cannot {what}: {self._url} was opened read-only (mode=ro); "
                "open it without mode=ro to write"
            )

    @property
    def inner(self) -> BaseStorage:
        """The backend's own storage object."""
        return self._inner

    @property
    def backend_name(self) -> str:
        return self._backend_name

    @property
    def url(self) -> StorageURL:
        """The URL this storage was opened with (its ``str`` masks the password)."""
        return self._url

    def __repr__(self) -> str:
        return f"<KitStorage {self._backend_name} {self._url.render()!r}>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names KitStorage lacks: backend extras such as osk_counters().
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    # -- studies -----------------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        self._writable("create a study")
        return self._inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._writable("delete a study")
        self._inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._writable("set a study attribute")
        value = check_attr(key, value, what=f"user attribute {key!r} of study {study_id}")
        self._inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._writable("set a study attribute")
        value = check_attr(key, value, what=f"system attribute {key!r} of study {study_id}")
        self._inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._inner.get_all_studies()

    # -- trials ------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._writable("create a trial")
        if template_trial is not None:
            template_trial = _checked_template(template_trial, study_id)
        return self._inner.create_new_trial(study_id, template_trial)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._writable("set a trial param")
        self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._inner.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._inner.get_trial_number_from_id(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self._inner.get_trial_param(trial_id, param_name)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        self._writable("change a trial's state")
        return self._inner.set_trial_state_values(trial_id, state, values)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._writable("report an intermediate value")
        self._inner.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._writable("set a trial attribute")
        value = check_attr(key, value, what=f"user attribute {key!r} of trial id {trial_id}")
        self._inner.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._writable("set a trial attribute")
        value = check_attr(key, value, what=f"system attribute {key!r} of trial id {trial_id}")
        self._inner.set_trial_system_attr(trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._inner.get_trial(trial_id)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self._inner.get_n_trials(study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._inner.get_best_trial(study_id)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        return self._inner.get_trial_params(trial_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return self._inner.get_trial_user_attrs(trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return self._inner.get_trial_system_attrs(trial_id)

    def remove_session(self) -> None:
        self._inner.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        self._inner.check_trial_is_updatable(trial_id, trial_state)

    # -- heartbeat ---------------------------------------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        self._writable("record a heartbeat")
        if self._heartbeat is not None:
            self._heartbeat.record_heartbeat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if self._heartbeat is None:
            return []
        return self._heartbeat._get_stale_trial_ids(study_id)

    def get_heartbeat_interval(self) -> int | None:
        return None if self._heartbeat is None else self._heartbeat.get_heartbeat_interval()

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        if self._heartbeat is None:
            return None
        return self._heartbeat.get_heartbeat_stale_trial_callback()

    def get_failed_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        # Optuna deprecates this name; answer it without the deprecation warning's noise.
        return self.get_heartbeat_stale_trial_callback()


def _checked_template(template: FrozenTrial, study_id: int) -> FrozenTrial:
    """Check a template trial's attributes and return a copy with normalised values."""
    user = {
        k: check_attr(k, v, what=f"user attribute {k!r} of a new trial in study {study_id}")
        for k, v in template.user_attrs.items()
    }
    system = {
        k: check_attr(k, v, what=f"system attribute {k!r} of a new trial in study {study_id}")
        for k, v in template.system_attrs.items()
    }
    checked = copy.copy(template)
    checked._user_attrs = user
    checked._system_attrs = system
    return checked
