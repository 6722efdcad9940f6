"""``flops``: analytic multiply-accumulates, linearly calibrated on the target's samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasedge.predict.base import LatencyPredictor, PredictorConfig
from nasedge.predict.calibration import fit_linear, fit_linear_loo


class FlopsPredictor(LatencyPredictor):
    """``latency = a * MACs + b``; the baseline every other predictor has to beat."""

    name = "flops"
    min_samples = 1

    @dataclass
    class Config(PredictorConfig):
        name: str = "flops"

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        macs = self.encoding.macs(items)
        self.slope, self.intercept = fit_linear(macs, latency_ms)
        # leave-one-out predictions of the samples (ms), for a caller weighing this model against others
        self.loo_ms = fit_linear_loo(macs, latency_ms)

    def _predict(self, items: list) -> np.ndarray:
        return self.slope * self.encoding.macs(items) + self.intercept

    def _state(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.slope, self.intercept = float(state["slope"]), float(state["intercept"])
