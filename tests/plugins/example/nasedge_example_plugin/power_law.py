"""``power_law``: latency as a power of the MACs, ``latency = c * MACs ** b``, fitted in log-log space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasedge.predict.base import LatencyPredictor, PredictorConfig


class PowerLawPredictor(LatencyPredictor):
    """Captures the sub-linear growth of latency with work that small networks show on most devices."""

    name = "power_law"

    @dataclass
    class Config(PredictorConfig):
        name: str = "power_law"

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        self.exponent, self.log_scale = np.polyfit(np.log(self.encoding.macs(items)), np.log(latency_ms), 1)

    def _predict(self, items: list) -> np.ndarray:
        return np.exp(self.log_scale + self.exponent * np.log(self.encoding.macs(items)))

    def _state(self) -> dict[str, Any]:
        return {"exponent": float(self.exponent), "log_scale": float(self.log_scale)}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.exponent, self.log_scale = float(state["exponent"]), float(state["log_scale"])
