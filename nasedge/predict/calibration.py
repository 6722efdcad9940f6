"""Linear calibration of a cost proxy (MACs, a lookup-table sum) to a device's milliseconds.

``latency ~ a * proxy + b`` fitted by least squares on *relative* residuals ``(pred - y) / y``: what
matters for a latency budget is the error in percent, and the small archs must not be sacrificed to
the large ones. A cost proxy never makes a network faster, so the slope is kept positive: where the best
fit has none (a device whose latency hardly depends on the arch, or noise that hides the dependence), the
result is the constant that fits best, with a slope a millionth of it across the samples' costs, so that
the proxy still breaks ties. With one sample, or samples of one cost, it is a pure ratio
``latency ~ a * proxy``. The proxy is divided by its mean magnitude before solving: MACs of 1e8 beside an
intercept of a few milliseconds make the normal equations too ill-conditioned for the intercept to survive.
"""

from __future__ import annotations

import numpy as np

from nasedge.errors import NasedgeError

TIE_SLOPE = 1e-6  # a fit without a positive slope: the proxy moves the latency by this share across the samples


def _scale(x: np.ndarray) -> float:
    """The proxy's mean magnitude (1 where it is all zeros): dividing by it conditions the least squares."""
    m = float(np.mean(np.abs(x))) if len(x) else 0.0
    return m if m > 0 else 1.0


def fit_linear(proxy: np.ndarray, latency_ms: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) minimising the squared relative error."""
    x, y = np.asarray(proxy, dtype=np.float64), np.asarray(latency_ms, dtype=np.float64)
    if not np.isfinite(x).all():  # a table of 1e308 entries sums to infinity: least squares does not converge
        raise NasedgeError(f"the cost proxy is not finite for {int((~np.isfinite(x)).sum())} of {len(x)} archs "
                           f"(a latency table with absurd entries?)")
    w = 1.0 / y
    if len(x) >= 2 and np.ptp(x) > 0:
        scale = _scale(x)
        design = np.stack([x / scale * w, w], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
        if a > 0:
            return float(a / scale), float(b)
        b = float(np.sum(w) / np.sum(w * w))  # argmin sum (b / y - 1)^2: the slope at its bound
        return TIE_SLOPE * b / float(np.ptp(x)), b
    a = float(np.sum(x * w) / np.sum((x * w) ** 2))  # argmin sum (a x / y - 1)^2
    return a, 0.0


def fit_linear_loo(proxy: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Leave-one-out predictions (ms) of :func:`fit_linear`'s two-parameter fit, in closed form."""
    x, y = np.asarray(proxy, dtype=np.float64), np.asarray(latency_ms, dtype=np.float64)
    w, x = 1.0 / y, x / _scale(x)
    design = np.stack([x * w, w], axis=1) if len(x) >= 3 and np.ptp(x) > 0 else (x * w)[:, None]
    gram_inv = np.linalg.pinv(design.T @ design)
    resid = 1.0 - design @ (gram_inv @ design.T @ np.ones_like(y))  # 1 - relative prediction
    hat = np.einsum("ij,jk,ik->i", design, gram_inv, design)
    return y * (1.0 - resid / np.clip(1.0 - hat, 1e-6, None))
