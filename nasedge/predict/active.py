"""Active choice of the archs to measure on a new device after its reference archs.

The few-shot predictors (:mod:`nasedge.predict.meta` and the prior-free models it falls back on) are
linear in the cost features of an arch. Which archs are measured decides how well 20 samples pin such
a model down: random archs leave whole directions of the feature space (a kind of cost, a stage)
unvaried. :func:`select_archs` picks, from a pool of candidate archs, the ones that most reduce the
summed predictive variance over the pool (a greedy *V-optimal* design) of a linear model in the
standardised cost features and the one-hot choices, given that the reference archs are measured
anyway. It uses the archs only, never a latency, so the choice is made before anything is measured
and suits every predictor and every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nasedge.predict.encodings import LatencyEncoding

POOL = 500  # random candidate archs an active choice picks from (nasedge predictor archs --active)
DESIGN_NOISE = 0.1  # noise variance against the unit prior variance of a standardised feature's weight
CHOICE_VARIANCE = 1.0  # prior variance of a one-hot choice's weight, relative to a cost feature's
# every RANDOM_EVERY-th pick is the next random candidate, not the design's (0: none): a design alone pushes the
# samples to the edges of the cost range, where a CPU's timings are least linear in the cost features (transfer
# -1.8 points within +-10 %); interleaved with random ones it gains or holds on every benchmark
# (experiments/latency_predictors/README.md, "Issue 20, seventh session")
RANDOM_EVERY = 2


def design_basis(encoding: LatencyEncoding, items: Sequence, choice_variance: float = CHOICE_VARIANCE) -> np.ndarray:
    """Rows of the design: cost features standardised over ``items`` and the one-hot choices scaled so that
    their weights have ``choice_variance`` (1: every column alike)."""
    feats = encoding.features(items)
    sd = feats.std(0)
    feats = (feats - feats.mean(0)) / np.where(sd > 0, sd, 1.0)
    oh = encoding.onehot(items) * np.sqrt(choice_variance)
    return np.concatenate([feats, oh], axis=1)


def v_optimal(x: np.ndarray, measured: int, n: int, noise: float = DESIGN_NOISE,
              random_every: int = 0) -> list[int]:
    """Greedy V-optimal design: ``x`` are the rows of the already measured archs (the first ``measured``)
    then of the candidates; returns the indices (into the candidates) of ``n`` picks, each the one that
    most reduces the summed posterior variance over all candidates of a unit-prior linear model. With
    ``random_every`` k > 0, every k-th pick is instead the first candidate not taken yet (the candidates come
    in random order), and the design's picks take it into account."""
    k = x @ x.T  # prior covariance of the archs' predictions (weights ~ N(0, I))
    # condition on the measured archs
    for i in range(measured):
        k = k - np.outer(k[:, i], k[i, :]) / (noise + k[i, i])
    cand = np.arange(measured, len(x))
    picks: list[int] = []
    taken = np.zeros(len(x), dtype=bool)
    for step in range(min(n, len(cand))):
        if random_every > 0 and step % random_every == random_every - 1:
            j = int(np.flatnonzero(~taken[measured:])[0])
        else:
            col = k[measured:, measured:]
            gain = (col**2).sum(0) / (noise + np.diag(col))
            gain[taken[measured:]] = -np.inf
            j = int(np.argmax(gain))
        picks.append(j)
        taken[measured + j] = True
        i = measured + j
        k = k - np.outer(k[:, i], k[i, :]) / (noise + k[i, i])
    return picks


def select_archs(encoding: LatencyEncoding, measured: Sequence, candidates: Sequence, n: int,
                 random_every: int = RANDOM_EVERY) -> list[int]:
    """Indices into ``candidates`` (in random order) of the ``n`` archs to measure after ``measured`` (the
    reference archs): a greedy V-optimal design over the candidates, every ``random_every``-th pick the next
    random candidate instead (see the module docstring). The picks of a smaller ``n`` are the first ones of a
    larger ``n``."""
    if n <= 0 or not candidates:
        return []
    x = design_basis(encoding, [*measured, *candidates])
    return v_optimal(x, len(measured), n, random_every=random_every)
