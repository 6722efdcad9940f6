"""Evolution-specific behaviour: repair instead of rejection under tight budgets, no repeated archs."""

from __future__ import annotations

import numpy as np

from nasedge.search import create_strategy
from nasedge.search.evolution import EvolutionStrategy, _rank
from nasedge.search.base import Candidate
from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")
ACC, LAT = ProxyAccuracy(SPACE), ProxyLatency(SPACE)


def test_repair_reaches_tight_budgets_without_rejection_sampling():
    budget = float(np.percentile(LAT(SPACE.sample_many(500, 12345)), 5))  # 1 random arch in 20 fits
    evo = create_strategy("evolution").run(SPACE, ACC, LAT, budget, max_evaluations=100, seed=0)
    rnd = create_strategy("random").run(SPACE, ACC, LAT, budget, max_evaluations=100, seed=0)
    share = lambda r: np.mean([c.feasible for c in r.history])  # noqa: E731
    assert share(rnd) < 0.12 and share(evo) > 0.35
    # a child costs at most 1 + repair_rounds screenings; random search pays ~20 per feasible arch here
    assert evo.evaluations == rnd.evaluations == 100
    assert evo.constraint_evaluations < 0.25 * rnd.constraint_evaluations
    assert evo.best_objective > rnd.best_objective


def test_shrink_moves_dimensions_to_the_smallest_choice():
    rng = np.random.default_rng(0)
    big = SPACE.max_arch()
    assert EvolutionStrategy(EvolutionStrategy.Config(repair_prob=1.0))._shrink(SPACE, big, SPACE.min_arch(), rng) \
        == SPACE.min_arch()
    strategy = EvolutionStrategy(EvolutionStrategy.Config(repair_prob=0.25))
    moved = [np.mean(np.array(strategy._shrink(SPACE, big, SPACE.min_arch(), rng).depth) == 2) for _ in range(400)]
    assert 0.2 < np.mean(moved) < 0.3
    assert all(LAT([strategy._shrink(SPACE, big, SPACE.min_arch(), rng)])[0] <= LAT([big])[0] for _ in range(20))


def test_no_arch_is_proposed_twice_and_children_stay_diverse():
    result = create_strategy("evolution").run(SPACE, ACC, LAT, 5.6, max_evaluations=400, seed=1)
    # repeats are cache hits: proposals beyond the distinct archs screened; repair can land on a
    # known arch, a mutation never does
    assert result.proposals - result.constraint_evaluations < 0.05 * result.proposals
    late = [c.arch for c in result.scored()][-50:]  # the last generation: not collapsed onto one arch
    distances = [sum(x != y for x, y in zip(a.kernel + a.expand, b.kernel + b.expand))
                 for i, a in enumerate(late) for b in late[i + 1:]]
    assert np.mean(distances) > 4


def test_ranking_puts_feasible_first_then_smallest_violation():
    archs = SPACE.sample_many(4, 3)
    pop = [Candidate(archs[0], 9.0, False), Candidate(archs[1], 5.0, True, 80.0, 1),
           Candidate(archs[2], 7.0, False), Candidate(archs[3], 4.0, True, 90.0, 2)]
    assert [c.arch for c in _rank(pop)] == [archs[3], archs[1], archs[2], archs[0]]


def test_a_budget_below_the_smallest_arch_stops_within_the_first_generation():
    budget = 0.5 * LAT([SPACE.min_arch()])[0]
    strategy = create_strategy("evolution")
    result = strategy.run(SPACE, ACC, LAT, budget, max_evaluations=1000, seed=0)
    assert result.stop_reason.startswith("no arch meets the budget")
    assert result.constraint_evaluations <= strategy.config.population_size * (1 + strategy.config.repair_rounds) + 1
