"""How well predicted latencies match measured ones: Spearman rho, MAPE, share within +-10 %."""

from __future__ import annotations

import numpy as np


def spearman(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties; 0 when either side is constant)."""
    from scipy.stats import spearmanr

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(true) == 0:
        return 0.0
    return float(spearmanr(pred, true).statistic)


def mape(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    return float(100.0 * np.mean(np.abs(pred - true) / true))


def within(pred: np.ndarray, true: np.ndarray, tolerance: float = 0.10) -> float:
    """Share (0..1) of predictions within ``tolerance`` (relative) of the measurement."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    return float(np.mean(np.abs(pred - true) <= tolerance * true))


def quality(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"spearman", "mape", "within_10pct"}`` (MAPE in percent, the share in 0..1)."""
    return {"spearman": spearman(pred, true), "mape": mape(pred, true), "within_10pct": within(pred, true)}
