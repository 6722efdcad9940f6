"""``totals``: ridge regression on the totals of the cost features per kind, fitted on the target's samples alone.

The cost features of an arch, summed per kind (pointwise, depthwise and squeeze-excite MACs, activations, counts;
:func:`~nasedge.predict.encodings.base.feature_kind`): 5-7 columns, between ``flops`` (one column) and
``regressor`` or ``meta``'s prior-free model (every column). A device pays per kind of cost, not per stage, so
a coefficient per kind carries much of a latency model in few degrees of freedom, which is what 10-20 samples
can pin down. In milliseconds, like ``meta``: latency is a sum of costs. ``meta`` blends it with its other
candidates where the prior does not fit (experiments/latency_predictors/README.md, "Issue 20, eighth session").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasedge.predict.base import LatencyPredictor, PredictorConfig
from nasedge.predict.encodings.base import feature_kind
from nasedge.predict.regressor import ridge_loo


class TotalsPredictor(LatencyPredictor):
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
        self.columns = [[i for i, n in enumerate(names) if feature_kind(n) == k] for k in kinds]

    def _totals(self, items: list) -> np.ndarray:
        f = self.encoding.features(items)
        return np.stack([f[:, cols].sum(1) for cols in self.columns], 1)

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        t = self._totals(items)
        self.mean, self.scale = t.mean(0), np.where(t.std(0) > 1e-9, t.std(0), 1.0)
        fit = ridge_loo((t - self.mean) / self.scale, latency_ms)
        self.weights, self.bias, self.alpha = fit.weights, fit.bias, fit.alpha
        # leave-one-out predictions of the samples (ms), for a caller weighing this model against others
        self.loo_ms = latency_ms - fit.loo_residuals

    def _predict(self, items: list) -> np.ndarray:
        return (self._totals(items) - self.mean) / self.scale @ self.weights + self.bias

    def _state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(),
                "bias": self.bias, "alpha": self.alpha}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.mean, self.scale = np.asarray(state["mean"], float), np.asarray(state["scale"], float)
        self.weights, self.bias = np.asarray(state["weights"], float), float(state["bias"])
        self.alpha = float(state["alpha"])
        if len(self.mean) != len(self.columns):
            raise ValueError(f"{len(self.mean)} totals; the encoding has {len(self.columns)} kinds of cost")
