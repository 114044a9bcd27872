"""The toolkit's distribution JSON: Optuna's results, converted once per distinct value."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

import optuna.distributions
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from optuna_storage_kit.toolkit import distributions

EXAMPLES = [
    FloatDistribution(0, 1),
    FloatDistribution(1e-5, 1, log=True),
    FloatDistribution(0, 1, step=0.25),
    IntDistribution(1, 9),
    IntDistribution(1, 9, step=2),
    IntDistribution(1, 64, log=True),
    CategoricalDistribution(["a", "b", None]),
    CategoricalDistribution([1, 2]),
    CategoricalDistribution([1.0, 2.0]),
    CategoricalDistribution([True, False]),
    CategoricalDistribution([1, 0]),
]


@pytest.mark.parametrize("dist", EXAMPLES, ids=repr)
def test_round_trip_is_optunas(dist: BaseDistribution) -> None:
    text = distributions.distribution_to_json(dist)
    assert text == optuna.distributions.distribution_to_json(dist)
    assert distributions.json_to_distribution(text) == dist
    assert distributions.distribution_to_json(dist) == text  # from the cache, unchanged


def test_equal_categoricals_of_other_types_keep_their_own_json() -> None:
    # (1, 2), (1.0, 2.0) and (True, False)/(1, 0) are equal and hash alike, but are written
    # differently and read back as different types.
    for dist in EXAMPLES:  # all cached first, in this order
        distributions.distribution_to_json(dist)
    for dist in EXAMPLES:
        text = distributions.distribution_to_json(dist)
        assert text == optuna.distributions.distribution_to_json(dist)
        choices = getattr(distributions.json_to_distribution(text), "choices", None)
        if choices is not None:
            assert [type(c) for c in choices] == [type(c) for c in dist.choices]  # type: ignore[attr-defined]


def test_each_distinct_distribution_is_converted_once() -> None:
    dist = IntDistribution(-1234567, 7654322, step=3)
    with patch.object(
        optuna.distributions,
        "distribution_to_json",
        wraps=optuna.distributions.distribution_to_json,
    ) as to_json:
        texts = {distributions.distribution_to_json(IntDistribution(-1234567, 7654322, step=3))}
        texts.add(distributions.distribution_to_json(dist))
        assert to_json.call_count == 1 and len(texts) == 1
    text = texts.pop()
    with patch.object(
        optuna.distributions,
        "json_to_distribution",
        wraps=optuna.distributions.json_to_distribution,
    ) as from_json:
        first = distributions.json_to_distribution(text)
        assert distributions.json_to_distribution(text) is first
        assert from_json.call_count == 1


class _Unhashable(BaseDistribution):
    """A third party's distribution with a list attribute."""

    def __init__(self, choices: list[Any]) -> None:
        self.choices = choices

    def to_external_repr(self, param_value_in_internal_repr: float) -> Any:
        return self.choices[int(param_value_in_internal_repr)]

    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        return float(self.choices.index(param_value_in_external_repr))

    def single(self) -> bool:
        return len(self.choices) == 1

    def _contains(self, param_value_in_internal_repr: float) -> bool:
        return 0 <= param_value_in_internal_repr < len(self.choices)


def test_an_unhashable_distribution_is_serialized_each_time() -> None:
    dist = _Unhashable([1, 2])
    text = distributions.distribution_to_json(dist)
    assert json.loads(text) == {"name": "_Unhashable", "attributes": {"choices": [1, 2]}}
    dist.choices.append(3)
    assert json.loads(distributions.distribution_to_json(dist))["attributes"] == {
        "choices": [1, 2, 3]
    }
