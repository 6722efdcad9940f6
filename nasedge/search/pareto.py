"""Non-dominated sorting over (objective to maximize, cost to minimize), e.g. accuracy vs latency."""

from __future__ import annotations

import numpy as np


def _as_pair(objective, cost) -> tuple[np.ndarray, np.ndarray]:
    obj, cst = np.asarray(objective, dtype=float).ravel(), np.asarray(cost, dtype=float).ravel()
    if obj.shape != cst.shape:
        raise ValueError(f"objective and cost differ in length: {obj.size} vs {cst.size}")
    if np.isnan(obj).any() or np.isnan(cst).any():
        raise ValueError("objective and cost must not contain NaN")
    return obj, cst


def pareto_front(objective, cost) -> np.ndarray:
    """Indices of the non-dominated points (higher objective and lower cost are better), by cost.

    A point is dominated when another is at least as good in both and better in one. Of exact
    duplicates only the first is kept, so the front holds distinct trade-offs.
    """
    obj, cst = _as_pair(objective, cost)
    # Sort by cost ascending, then objective descending: a point is on the front iff its objective
    # beats every objective seen before it. O(n log n).
    order = np.lexsort((-obj, cst))
    front, best = [], -np.inf
    for i in order:
        if obj[i] > best:
            front.append(i)
            best = obj[i]
    return np.asarray(front, dtype=int)


def nondominated_ranks(objective, cost) -> np.ndarray:
    """Rank of every point: 0 for the Pareto front, 1 for the front once rank 0 is removed, and so on."""
    obj, cst = _as_pair(objective, cost)
    ranks = np.full(obj.size, -1, dtype=int)
    remaining = np.arange(obj.size)
    rank = 0
    while remaining.size:
        # Duplicates of a front point share its rank (pareto_front keeps only one of them).
        front = remaining[pareto_front(obj[remaining], cst[remaining])]
        on_front = np.isin(remaining, front) | _duplicates_of(obj, cst, remaining, front)
        ranks[remaining[on_front]] = rank
        remaining = remaining[~on_front]
        rank += 1
    return ranks


def _duplicates_of(obj: np.ndarray, cst: np.ndarray, candidates: np.ndarray, front: np.ndarray) -> np.ndarray:
    points = {(obj[i], cst[i]) for i in front}
    return np.asarray([(obj[i], cst[i]) in points for i in candidates], dtype=bool)
