"""What a predictor's ``_predict`` returns (a plugin's too) is checked by the base class's ``fit`` and ``predict``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.base import LatencyPredictor
from nasedge.spaces import get_space


class Scripted(LatencyPredictor):
    """Predicts what ``answer(items)`` returns (set per test), the MACs count by default."""

    name = "scripted"

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        pass

    def _predict(self, items: list) -> Any:
        return self.answer(items)

    def answer(self, items: list) -> Any:
        return np.ones(len(items))

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        pass


@pytest.fixture
def fitted():
    space = get_space("ofa_mbv3_cifar")
    archs = space.sample_many(3, 0)
    return Scripted(space).fit(archs, [1.0, 2.0, 3.0]), archs


@pytest.mark.parametrize("answer, got", [(lambda items: np.zeros(0), "0 values"),
                                         (lambda items: np.ones(len(items) + 1), "4 values"),
                                         (lambda items: None, "a NoneType that is not numbers"),
                                         (lambda items: ["fast"] * len(items), "a list that is not numbers")])
def test_a_wrong_count_of_predictions_is_one_line_naming_the_predictor(fitted, answer, got):
    predictor, archs = fitted
    predictor.answer = answer
    with pytest.raises(NasedgeError) as exc:
        predictor.predict(archs)
    assert str(exc.value) == (f"latency predictor 'scripted' (Scripted) returned {got} for 3 archs; "
                              f"expected one latency per arch")
    with pytest.raises(NasedgeError, match="returned .* for 3 archs"):  # fit checks the same
        broken = Scripted("ofa_mbv3_cifar")
        broken.answer = answer
        broken.fit(archs, [1.0, 2.0, 3.0])


def test_a_non_finite_prediction_is_one_line_naming_the_predictor(fitted):
    predictor, archs = fitted
    predictor.answer = lambda items: np.array([1.0, np.nan, 2.0])
    with pytest.raises(NasedgeError) as exc:
        predictor.predict(archs)
    assert str(exc.value) == ("latency predictor 'scripted' (Scripted) predicted nan ms for arch 1 of 3; "
                              "expected a finite latency")


def test_one_prediction_per_arch_in_any_shape_is_taken(fitted):
    predictor, archs = fitted
    predictor.answer = lambda items: [[2.0]] * len(items)  # a column, a list: one number per arch still
    assert predictor.predict(archs).tolist() == [2.0, 2.0, 2.0]


def test_a_fit_that_predicts_its_samples_at_no_time_is_refused():
    # negative predictions were raised to the samples' floor: every subnet predicted alike, the search blind
    space = get_space("ofa_mbv3_cifar")
    archs = space.sample_many(4, 0)
    negative = Scripted(space)
    negative.answer = lambda items: -np.ones(len(items))
    with pytest.raises(NasedgeError, match=r"^predictor 'scripted' predicts 4 of the 4 archs it was fitted to at 0 ms "
                                           r"or less \(1-4 ms measured\)$"):
        negative.fit(archs, [1.0, 2.0, 3.0, 4.0])
    one = Scripted(space)  # one sample below zero is a fit's error at an edge, not a broken predictor
    one.answer = lambda items: np.array([-0.1, *np.ones(len(items) - 1)])
    assert one.fit(archs, [1.0, 2.0, 3.0, 4.0]).fitted
