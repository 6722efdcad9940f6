"""The evaluator's accounting, the result, the registry and option checking."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nasedge.search as search
from nasedge.errors import NasedgeError
from nasedge.search import (Evaluator, SearchExhausted, SearchResult, Strategy, StrategyConfig, check_budget,
                            create_strategy)
from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")
ACC, LAT = ProxyAccuracy(SPACE), ProxyLatency(SPACE)


class Counted:
    def __init__(self, fn):
        self.fn, self.archs = fn, []

    def __call__(self, archs):
        self.archs.extend(archs)
        return self.fn(archs)


def _evaluator(budget, max_evaluations=100, max_proposals=1000):
    obj, con = Counted(ACC), Counted(LAT)
    return Evaluator(obj, con, budget, max_evaluations, max_proposals), obj, con


def test_screens_first_scores_feasible_once_and_caches():
    archs = SPACE.sample_many(40, 0)
    lat = LAT(archs)
    budget = float(np.median(lat))
    ev, obj, con = _evaluator(budget)
    objective, constraint, feasible = ev.evaluate(archs + archs[:5])  # repeats inside the batch
    assert list(feasible[:40]) == list(lat <= budget)
    assert np.array_equal(np.isnan(objective), ~feasible)
    assert con.archs == archs and obj.archs == [a for a, ok in zip(archs, lat <= budget) if ok]
    assert ev.evaluations == int((lat <= budget).sum()) and ev.constraint_evaluations == 40
    assert ev.proposals == 45
    ev.evaluate(archs[:10])  # all known: no predictor call, but proposals are counted
    assert len(con.archs) == 40 and ev.evaluations == int((lat <= budget).sum()) and ev.proposals == 55
    # screening then scoring the same arch is one proposal, not two
    new = SPACE.sample_many(3, 99)
    ev.screen(new)
    ev.evaluate(new)
    assert ev.proposals == 58


def test_evaluation_cap_falls_inside_a_batch():
    ev, obj, _ = _evaluator(math.inf, max_evaluations=7)
    archs = SPACE.sample_many(10, 1)
    with pytest.raises(SearchExhausted, match="evaluation cap"):
        ev.evaluate(archs)
    assert obj.archs == archs[:7] and ev.evaluations == 7
    assert [c.evaluation for c in ev.history] == [1, 2, 3, 4, 5, 6, 7, 0, 0, 0]
    with pytest.raises(SearchExhausted):
        ev.evaluate(archs[:1])


def test_proposal_cap_bounds_a_search_that_finds_nothing():
    ev, obj, con = _evaluator(0.0, max_proposals=25)
    with pytest.raises(SearchExhausted, match="proposal cap"):
        for seed in range(100):
            ev.evaluate(SPACE.sample_many(10, seed))
    assert ev.proposals == 25 and len(con.archs) == 25 and not obj.archs


def test_known_results_count_toward_the_cap():
    ev, obj, _ = _evaluator(math.inf, max_evaluations=5)
    a, b = SPACE.sample_many(2, 2)
    assert ev.add_known(a, 3.0, 88.0) and not ev.add_known(a, 3.0, 88.0)
    assert ev.reused_evaluations == 1 and ev.remaining == 4 and ev.known(a)
    ev.evaluate([a, b])
    assert obj.archs == [b] and ev.history[0].reused and ev.history[1].evaluation == 2


def test_bad_predictor_output_is_reported():
    ev, *_ = _evaluator(math.inf)
    ev._objective = lambda archs: np.full(len(archs), np.nan)
    with pytest.raises(ValueError, match="objective returned NaN"):
        ev.evaluate(SPACE.sample_many(2, 3))
    ev._constraint = lambda archs: np.zeros(len(archs) + 1)
    with pytest.raises(ValueError, match="constraint returned 3 values for 2 archs"):
        ev.evaluate(SPACE.sample_many(2, 4))


def test_unbounded_budget_and_json():
    result = create_strategy("random").run(SPACE, ACC, LAT, math.inf, max_evaluations=20, seed=0)
    assert all(c.feasible for c in result.history) and result.evaluations == 20
    back = SearchResult.from_json(result.to_json())
    assert back.budget == math.inf and back.best_arch == result.best_arch
    assert back.best_at(10) == result.best_at(10) <= back.best_objective
    assert result.best_at(0) is None


def test_load_reports_bad_files(tmp_path):
    with pytest.raises(NasedgeError, match="no such search result"):
        SearchResult.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"strategy": "x"}')
    with pytest.raises(NasedgeError, match="bad.json: not a search result"):
        SearchResult.load(tmp_path / "bad.json")
    with pytest.raises(NasedgeError, match="search result JSON: not a search result"):  # a KeyError before
        SearchResult.from_json("{}")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(NasedgeError, match="folder.json: not a readable search result"):
        SearchResult.load(tmp_path / "folder.json")


def test_top_refuses_a_negative_count():
    result = create_strategy("random").run(SPACE, ACC, LAT, 100.0, max_evaluations=5)
    assert len(result.top(2)) == 2 and result.top(0) == []
    with pytest.raises(NasedgeError, match="k: value -1 is not valid"):  # it returned all but the last
        result.top(-1)


def test_check_budget():
    fastest = LAT([SPACE.min_arch()])[0]
    assert check_budget(SPACE, LAT, fastest + 0.1) == pytest.approx(fastest)
    with pytest.raises(NasedgeError, match=r"latency budget 1 ms is below the fastest subnet of ofa_mbv3_cifar"):
        check_budget(SPACE, LAT, 1.0)


def test_run_arguments_are_checked():
    strategy = create_strategy("random")
    with pytest.raises(NasedgeError, match="max_evaluations"):
        strategy.run(SPACE, ACC, LAT, 5.0, max_evaluations=0)
    with pytest.raises(NasedgeError, match="budget: value nan is not valid"):
        strategy.run(SPACE, ACC, LAT, math.nan)


@pytest.mark.parametrize("name,options,message", [
    ("annealing", {}, "unknown search strategy 'annealing'; known: evolution, optuna, random"),
    ("evolution", {"population": 10}, "unknown option 'population'; known: max_evaluations"),
    ("evolution", {"population_size": "50"}, "option 'population_size': value '50' is not valid; expected a value of type int"),
    ("evolution", {"population_size": True}, "option 'population_size': value True is not valid"),
    ("evolution", {"parents_ratio": 1.5}, "option 'parents_ratio': value 1.5 is not valid; expected a number in"),
    # every member a parent: no child, no proposal, a search that never ends
    ("evolution", {"population_size": 4, "parents_ratio": 0.9}, "option 'parents_ratio': value 0.9 is not valid; "
                                                               "expected a ratio that leaves room for children (it gives 4"),
    ("random", {"batch_size": 0}, "option 'batch_size': value 0 is not valid; expected a positive integer"),
    ("optuna", {"sampler": "cmaes"}, "option 'sampler': value 'cmaes' is not valid; expected tpe or nsga2"),
    ("optuna", {"storage": 3}, "option 'storage': value 3 is not valid; expected a value of type str or null"),
    ("random", {"max_evaluations": -1}, "option 'max_evaluations': value -1 is not valid"),
    ("random", {"name": "evolution"}, "option 'name' must be 'random'"),
])
def test_bad_options_name_the_option(name, options, message):
    with pytest.raises(NasedgeError) as exc:
        create_strategy(name, **options)
    assert message in str(exc.value)


def test_a_plugin_strategy_is_one_class(monkeypatch):
    class FirstOfEach(Strategy):
        """Scores the smallest arch, then the largest."""

        name = "extremes"

        def _search(self, space, evaluator, rng, seed):
            evaluator.evaluate([space.min_arch(), space.max_arch()])

    monkeypatch.setattr(search, "_STRATEGIES", search._STRATEGIES.copy())
    search.register_strategy(FirstOfEach)
    with pytest.raises(ValueError, match="already registered"):
        search.register_strategy(FirstOfEach)
    assert "extremes" in search.list_strategies()
    result = create_strategy("extremes").run(SPACE, ACC, LAT, math.inf)
    assert result.stop_reason == "strategy finished" and result.best_arch == SPACE.max_arch()
    assert isinstance(result.to_dict()["options"], dict) and StrategyConfig().max_evaluations == 1000


def test_the_smallest_arch_is_checked_once_when_nothing_is_feasible():
    smallest = SPACE.min_arch()
    fastest = LAT([smallest])[0]
    ev = Evaluator(ACC, LAT, 0.9 * fastest, 100, 10_000, smallest=smallest)
    with pytest.raises(SearchExhausted, match="no arch meets the budget"):
        for seed in range(100):
            ev.evaluate(SPACE.sample_many(10, seed))
    assert ev.proposals == 71 and ev.history[-1].arch == smallest  # 7 batches of 10, then the check
    # if the smallest arch fits, the search goes on (random archs rarely reach such a budget)
    ev = Evaluator(ACC, LAT, 1.01 * fastest, 100, 300, smallest=smallest)
    with pytest.raises(SearchExhausted, match="proposal cap"):
        for seed in range(100):
            ev.evaluate(SPACE.sample_many(10, seed))
    assert ev.get(smallest).feasible


@pytest.mark.parametrize("name", ["evolution", "optuna", "random"])
@pytest.mark.parametrize("max_evaluations", [1, 2])
def test_a_search_that_found_feasible_archs_ends_with_a_pick(name, max_evaluations):
    # a first population larger than the proposals of a tiny evaluation budget: the cap once fell between
    # screening and scoring, and the search ended "found no arch" under a budget every arch meets
    result = create_strategy(name).run(SPACE, ACC, LAT, math.inf, max_evaluations=max_evaluations)
    assert result.best is not None and 1 <= result.evaluations <= max_evaluations


def test_the_smallest_arch_found_by_its_check_is_scored():
    # a budget only the smallest arch meets: the check after 64 proposals screens it feasible, and it must be
    # scored, or the search ends with no pick although an arch meets the budget
    smallest = float(LAT([SPACE.min_arch()])[0])
    result = create_strategy("random").run(SPACE, ACC, LAT, smallest, max_evaluations=50)
    assert result.best is not None and result.best.arch == SPACE.min_arch()
