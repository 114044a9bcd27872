"""What Postgres and the RDB schema cannot hold is refused with a clear message, storing nothing;
templates keep their fields as given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

import optuna_storage_kit as osk

from .conftest import kit_url


@pytest.fixture
def storage(empty_tables: str) -> Iterator[osk.KitStorage]:
    storage = osk.open_storage(kit_url(empty_tables))
    yield storage
    storage.inner.close()


def test_nul_characters_are_refused_before_writing(storage: osk.KitStorage) -> None:
    with pytest.raises(ValueError, match="NUL character"):
        storage.create_new_study([StudyDirection.MINIMIZE], study_name="a\x00b")
    assert storage.get_all_studies() == []
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    with pytest.raises(ValueError, match="NUL character"):
        storage.set_study_user_attr(study_id, "k\x00", 1)
    with pytest.raises(ValueError, match="NUL character"):
        storage.set_trial_system_attr(trial_id, "k\x00", 1)
    with pytest.raises(ValueError, match="NUL character"):
        storage.set_trial_param(trial_id, "p\x00", 0.5, FloatDistribution(0, 1))
    # NUL inside values is fine: values are JSON, where it is escaped.
    storage.set_trial_user_attr(trial_id, "k", "a\x00b")
    trial = storage.get_trial(trial_id)
    assert (trial.user_attrs, trial.system_attrs, trial.params) == ({"k": "a\x00b"}, {}, {})


@pytest.mark.parametrize("write_behind", [True, False], ids=["write-behind", "write-through"])
def test_names_longer_than_the_schemas_columns_are_refused_before_writing(
    empty_tables: str, write_behind: bool
) -> None:
    storage = osk.open_storage(kit_url(empty_tables, write_behind=write_behind))
    fits, too_long = "n" * 512, "n" * 513  # Optuna's MAX_INDEXED_STRING_LENGTH
    with pytest.raises(ValueError, match="513 characters, more than the 512"):
        storage.create_new_study([StudyDirection.MINIMIZE], study_name=too_long)
    assert storage.get_all_studies() == []
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], study_name=fits)
    trial_id = storage.create_new_trial(study_id)
    dist = FloatDistribution(0, 1)
    for write in (
        lambda key: storage.set_study_user_attr(study_id, key, 1),
        lambda key: storage.set_study_system_attr(study_id, key, 1),
        lambda key: storage.set_trial_user_attr(trial_id, key, 1),
        lambda key: storage.set_trial_system_attr(trial_id, key, 1),
        lambda key: storage.set_trial_param(trial_id, key, 0.5, dist),
    ):
        with pytest.raises(ValueError, match="more than the 512"):
            write(too_long)
        write(fits)
    # Nothing of the refused writes was kept, in the buffer or on the server: the trial ends.
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    trial = storage.get_trial(trial_id)
    assert (trial.params, trial.user_attrs, trial.system_attrs) == (
        {fits: 0.5},
        {fits: 1},
        {fits: 1},
    )
    assert storage.get_study_user_attrs(study_id) == {fits: 1}
    assert storage.get_study_system_attrs(study_id) == {fits: 1}
    storage.inner.close()


def test_intermediate_steps_must_fit_the_schema(storage: osk.KitStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_intermediate_value(trial_id, 2**31 - 1, 1.0)
    with pytest.raises(ValueError, match="32-bit"):
        storage.set_trial_intermediate_value(trial_id, 2**31, 2.0)
    assert storage.get_trial(trial_id).intermediate_values == {2**31 - 1: 1.0}


def test_waiting_template_keeps_no_start_time(storage: osk.KitStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    template = FrozenTrial(
        number=-1,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    trial_id = storage.create_new_trial(study_id, template)
    waiting = storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    assert [(t._trial_id, t.datetime_start) for t in waiting] == [(trial_id, None)]
    assert storage.set_trial_state_values(trial_id, TrialState.RUNNING)
    assert not storage.set_trial_state_values(trial_id, TrialState.RUNNING)
    popped = storage.get_trial(trial_id)
    assert popped.datetime_start is not None and popped.params == {"x": 0.5}


def test_trial_put_back_in_the_queue_is_found(storage: osk.KitStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    first = storage.create_new_trial(study_id)
    storage.create_new_trial(study_id)
    assert storage.get_all_trials(study_id, states=(TrialState.WAITING,)) == []
    storage.set_trial_state_values(first, TrialState.WAITING)
    waiting = storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    assert [t._trial_id for t in waiting] == [first]
    assert storage.set_trial_state_values(first, TrialState.RUNNING)


def test_missing_trial_is_reported_before_the_step_limit(storage: osk.KitStorage) -> None:
    with pytest.raises(KeyError):
        storage.set_trial_intermediate_value(10**6, 2**40, 1.0)
