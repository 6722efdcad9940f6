"""``totals``: ridge regression on the totals of the cost features per kind, fitted on the target's samples alone.

The cost features of an arch, summed per kind (pointwise, depthwise and squeeze-excite MACs, activations, counts,
the input resolution; :func:`~nasedge.predict.encodings.base.feature_kind`): 4-8 columns, between ``flops`` (one
column) and ``regressor`` or ``meta``'s prior-free model (every column). A device pays per kind of cost, not per
stage, so a coefficient per kind carries much of a latency model in few degrees of freedom, which is what 10-20
samples can pin down. In milliseconds, like ``meta``: latency is a sum of costs. ``meta`` blends it with its other
candidates where the prior does not fit (experiments/latency_predictors/README.md, "Issue 20, eighth session").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasedge.predict.base import PredictorConfig
from nasedge.predict.encodings.base import feature_kind
from nasedge.predict.regressor import RidgePredictor


class TotalsPredictor(RidgePredictor):
    """``latency = b + sum_k w_k * (cost features of kind k, summed)``, ridge strength by leave-one-out error."""

    name = "totals"
    min_samples = 3

    @dataclass
    class Config(PredictorConfig):
        name: str = "totals"

    def __init__(self, space, **options: Any):
        super().__init__(space, **options)
        names = self.encoding.feature_names
        kinds = sorted({feature_kind(n) for n in names})
        self.kinds = [[i for i, n in enumerate(names) if feature_kind(n) == k] for k in kinds]

    def _columns(self, items: list) -> np.ndarray:
        f = self.encoding.features(items)
        return np.stack([f[:, cols].sum(1) for cols in self.kinds], 1)

    def _width(self) -> int:
        return len(self.kinds)
