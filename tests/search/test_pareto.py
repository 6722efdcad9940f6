from __future__ import annotations

import numpy as np
import pytest

from nasedge.search import nondominated_ranks, pareto_front


def _brute_front(obj, cost):
    n = len(obj)
    dominated = [any(obj[j] >= obj[i] and cost[j] <= cost[i] and (obj[j], cost[j]) != (obj[i], cost[i])
                     for j in range(n)) for i in range(n)]
    return {(obj[i], cost[i]) for i in range(n) if not dominated[i]}


@pytest.mark.parametrize("seed", range(5))
def test_front_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    obj, cost = rng.integers(0, 12, 80).astype(float), rng.integers(0, 12, 80).astype(float)  # many ties
    front = pareto_front(obj, cost)
    assert {(obj[i], cost[i]) for i in front} == _brute_front(obj, cost)
    assert len(front) == len({(obj[i], cost[i]) for i in front})  # duplicates kept once
    assert list(cost[front]) == sorted(cost[front]) and list(obj[front]) == sorted(obj[front])


def test_ranks_peel_fronts():
    obj = np.array([3.0, 2.0, 1.0, 2.0, 1.0, 3.0])
    cost = np.array([3.0, 2.0, 1.0, 3.0, 2.0, 3.0])
    # (3,3),(2,2),(1,1) are the front; (2,3) and (1,2) the next; the duplicate (3,3) shares rank 0
    assert list(nondominated_ranks(obj, cost)) == [0, 0, 0, 1, 1, 0]
    rng = np.random.default_rng(0)
    o, c = rng.random(60), rng.random(60)
    ranks = nondominated_ranks(o, c)
    for r in range(ranks.max() + 1):
        rest = ranks >= r
        assert {(o[i], c[i]) for i in np.flatnonzero(ranks == r)} == _brute_front(o[rest], c[rest])


def test_bad_input():
    with pytest.raises(ValueError, match="length"):
        pareto_front([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        pareto_front([1.0, np.nan], [1.0, 2.0])
    assert pareto_front([], []).size == 0
