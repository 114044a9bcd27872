"""Category 2, model-based: random operation sequences on the candidate and the reference.

A Hypothesis state machine applies the same storage operations to a fresh candidate store and
a fresh reference store and compares every observable result, errors included (by kind: the
exception types Optuna's storage API promises). Ids are backend-specific, so the machine keeps
pairs of ids and compares everything else.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optuna_storage_kit.toolkit.trials import new_trial
from osk_conformance._target import Target
from osk_conformance._trials import canonical, outcome, trial_view

# Any text but NUL, which no SQL text column stores (Optuna's RDBStorage included).
TEXT = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")
# Names that differ in one code point but may compare equal under a collation, Unicode
# normalization, case folding or space padding: each must be a name of its own.
NEAR = st.sampled_from(
    ["a", "A", "a ", " a", "\u00e1", "a\u0301", "\u00df", "ss", "\uff41", "a\u200b", "\u0131", "i"]
)
NAMES = st.text(TEXT, max_size=12) | NEAR
KEYS = st.text(TEXT, max_size=6) | NEAR
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1.0])
FINITE = st.floats(-1e6, 1e6, allow_nan=False)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(TEXT, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT, max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
DISTRIBUTIONS = st.sampled_from(
    [
        (FloatDistribution(0, 1), st.floats(0, 1)),
        (IntDistribution(0, 10), st.integers(0, 10).map(float)),
        (CategoricalDistribution(["a", "b", None]), st.sampled_from([0.0, 1.0, 2.0])),
    ]
)
STATES = st.sampled_from(list(TrialState))
# Mostly single-objective (best trials exist only there), both ways, sometimes several.
DIRECTIONS = st.one_of(
    st.just([StudyDirection.MINIMIZE]),
    st.just([StudyDirection.MAXIMIZE]),
    st.lists(
        st.sampled_from([StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]), min_size=1, max_size=3
    ),
)


def _view(result: Any) -> Any:
    """An id-free, comparable view of a storage call's result."""
    if isinstance(result, FrozenTrial):
        return trial_view(result)
    if isinstance(result, list) and result and isinstance(result[0], FrozenTrial):
        return [trial_view(t) for t in result]
    if isinstance(result, list) and result and isinstance(result[0], StudyDirection):
        return [d.name for d in result]
    if isinstance(result, dict):
        return canonical(result)
    if isinstance(result, float) and math.isnan(result):
        return "nan"
    return result


def make_machine(candidate: Target, reference: Target) -> type[RuleBasedStateMachine]:
    # Steps past 32 bits only where claimed (the large-step rule is checked in the API suite).
    max_step = 2**40 if candidate.has("large_steps") else 2**31 - 1

    class StorageComparison(RuleBasedStateMachine):
        studies = Bundle("studies")
        trials = Bundle("trials")

        def __init__(self) -> None:
            super().__init__()
            self.dir = Path(tempfile.mkdtemp(prefix="osk-model-"))
            self.cand = candidate.open(self.dir / "candidate")
            self.ref = reference.open(self.dir / "reference")
            self.prefix = f"osk-{uuid.uuid4().hex[:8]}-"

        def teardown(self) -> None:
            shutil.rmtree(self.dir, ignore_errors=True)

        def both(self, call: Any, *ids: Any, is_id: bool = False) -> tuple[Any, Any]:
            """Call on both stores; compare outcomes (results too, unless they are ids)."""
            got = outcome(lambda: call(self.cand, *(i[0] for i in ids)))
            want = outcome(lambda: call(self.ref, *(i[1] for i in ids)))
            if is_id and got[0] == want[0] == "ok":
                return got[1], want[1]
            assert (got[0], _view(got[1]) if got[0] == "ok" else got[1]) == (
                want[0],
                _view(want[1]) if want[0] == "ok" else want[1],
            ), f"candidate {got} != reference {want}"
            return got[1], want[1]

        @rule(target=studies, name=NAMES, directions=DIRECTIONS)
        def create_study(self, name: str, directions: list[StudyDirection]) -> Any:
            got, want = self.both(
                lambda s: s.create_new_study(directions, self.prefix + name), is_id=True
            )
            return (got, want) if isinstance(got, int) else (-1, -1)

        @rule(study=studies)
        def read_study(self, study: Any) -> None:
            self.both(lambda s, i: s.get_study_directions(i), study)
            self.both(lambda s, i: s.get_study_name_from_id(i), study)
            self.both(lambda s, i: s.get_study_user_attrs(i), study)
            self.both(lambda s, i: s.get_best_trial(i), study)
            self.both(lambda s, i: s.get_n_trials(i), study)

        @rule(study=studies)
        def list_studies(self, study: Any) -> None:
            self.both(
                lambda s: sorted(
                    x.study_name
                    for x in s.get_all_studies()
                    if x.study_name.startswith(self.prefix)
                )
            )

        @rule(study=consumes(studies))
        def delete_study(self, study: Any) -> None:
            self.both(lambda s, i: s.delete_study(i), study)

        @rule(study=studies, key=KEYS, value=JSONISH)
        def study_attr(self, study: Any, key: str, value: Any) -> None:
            self.both(lambda s, i: s.set_study_user_attr(i, key, value), study)

        @rule(target=trials, study=studies, waiting=st.booleans())
        def create_trial(self, study: Any, waiting: bool) -> Any:
            template = None
            if waiting:
                template = new_trial(-1, -1, None, TrialState.WAITING)
            got, want = self.both(lambda s, i: s.create_new_trial(i, template), study, is_id=True)
            return (got, want) if isinstance(got, int) else (-1, -1)

        @rule(target=trials, study=studies, value=FINITE)
        def finished_trial(self, study: Any, value: float) -> Any:
            got, want = self.both(lambda s, i: s.create_new_trial(i), study, is_id=True)
            pair = (got, want) if isinstance(got, int) else (-1, -1)
            self.both(lambda s, i: s.set_trial_state_values(i, TrialState.COMPLETE, [value]), pair)
            self.both(lambda s, i: s.get_best_trial(i), study)
            return pair

        @rule(study=studies, values=st.lists(FINITE, min_size=2, max_size=4, unique=True))
        def finished_trials(self, study: Any, values: list[float]) -> None:
            """Several finished trials with distinct values, then the best of them."""
            for value in values:
                self.finished_trial(study, value)

        @rule(trial=trials, name=st.sampled_from("abc") | NEAR, dist=DISTRIBUTIONS, data=st.data())
        def set_param(self, trial: Any, name: str, dist: Any, data: st.DataObject) -> None:
            value = data.draw(dist[1])
            self.both(lambda s, i: s.set_trial_param(i, name, value, dist[0]), trial)

        @rule(trial=trials, state=STATES, values=st.lists(FINITE, min_size=1, max_size=3))
        def set_state(self, trial: Any, state: TrialState, values: Any) -> None:
            values = values if state == TrialState.COMPLETE else None
            self.both(lambda s, i: s.set_trial_state_values(i, state, values), trial)

        @rule(trial=trials, step=st.integers(0, max_step), value=FLOATS)
        def intermediate(self, trial: Any, step: int, value: float) -> None:
            self.both(lambda s, i: s.set_trial_intermediate_value(i, step, value), trial)

        @rule(trial=trials, key=KEYS, value=JSONISH, system=st.booleans())
        def trial_attr(self, trial: Any, key: str, value: Any, system: bool) -> None:
            if system:
                self.both(lambda s, i: s.set_trial_system_attr(i, key, value), trial)
            else:
                self.both(lambda s, i: s.set_trial_user_attr(i, key, value), trial)

        @rule(trial=trials)
        def read_trial(self, trial: Any) -> None:
            self.both(lambda s, i: s.get_trial(i), trial)
            self.both(lambda s, i: s.get_trial_number_from_id(i), trial)
            self.both(lambda s, i: s.get_trial_params(i), trial)

        @rule(
            study=studies,
            states=st.none() | st.lists(STATES, max_size=2).map(tuple),
            deepcopy=st.booleans(),
        )
        def all_trials(self, study: Any, states: Any, deepcopy: bool) -> None:
            self.both(lambda s, i: s.get_all_trials(i, deepcopy=deepcopy, states=states), study)
            self.both(lambda s, i: s.get_n_trials(i, states or None), study)

        @rule(study=studies, number=st.integers(0, 6))
        def trial_by_number(self, study: Any, number: int) -> None:
            self.both(
                lambda s, i: (
                    s.get_trial(s.get_trial_id_from_study_id_trial_number(i, number)).number
                ),
                study,
            )

    return StorageComparison


def test_matches_reference(
    osk_target: Target,
    osk_reference: Target,
    osk_quick: bool,
    osk_seed: int,
    request: pytest.FixtureRequest,
) -> None:
    """Random sequences from the run's seed (``--seed``): a failure replays with it."""
    request.node.user_properties.append(("seed", osk_seed))
    machine = seed(osk_seed)(make_machine(osk_target, osk_reference))
    machine.TestCase.settings = settings(
        max_examples=25 if osk_quick else 100,
        stateful_step_count=25 if osk_quick else 50,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        # Quick mode reports the first failing sequence as found; full mode shrinks it.
        phases=[p for p in Phase if p != Phase.shrink or not osk_quick],
    )
    machine.TestCase().runTest()
