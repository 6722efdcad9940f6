"""Linear calibration of a cost proxy (MACs, a lookup-table sum) to a device's milliseconds.

``latency ~ a * proxy + b`` fitted by least squares on *relative* residuals ``(pred - y) / y``: what
matters for a latency budget is the error in percent, and the small archs must not be sacrificed to
the large ones. With one sample, or when the fitted slope is not positive, it falls back to a pure
ratio ``latency ~ a * proxy`` (a cost proxy never makes a network faster).
"""

from __future__ import annotations

import numpy as np

from nasedge.errors import NasedgeError


def fit_linear(proxy: np.ndarray, latency_ms: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) minimising the squared relative error."""
    x, y = np.asarray(proxy, dtype=np.float64), np.asarray(latency_ms, dtype=np.float64)
    if not np.isfinite(x).all():  # a table of 1e308 entries sums to infinity: least squares does not converge
        raise NasedgeError(f"the cost proxy is not finite for {int((~np.isfinite(x)).sum())} of {len(x)} archs "
                           f"(a latency table with absurd entries?)")
    w = 1.0 / y
    if len(x) >= 2 and np.ptp(x) > 0:
        design = np.stack([x * w, w], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
        if a > 0:
            return float(a), float(b)
    a = float(np.sum(x * w) / np.sum((x * w) ** 2))  # argmin sum (a x / y - 1)^2
    return a, 0.0


def fit_linear_loo(proxy: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Leave-one-out predictions (ms) of :func:`fit_linear`'s two-parameter fit, in closed form."""
    x, y = np.asarray(proxy, dtype=np.float64), np.asarray(latency_ms, dtype=np.float64)
    w = 1.0 / y
    design = np.stack([x * w, w], axis=1) if len(x) >= 3 and np.ptp(x) > 0 else (x * w)[:, None]
    gram_inv = np.linalg.pinv(design.T @ design)
    resid = 1.0 - design @ (gram_inv @ design.T @ np.ones_like(y))  # 1 - relative prediction
    hat = np.einsum("ij,jk,ik->i", design, gram_inv, design)
    return y * (1.0 - resid / np.clip(1.0 - hat, 1e-6, None))
