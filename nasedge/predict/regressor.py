"""``regressor``: a per-device model on cost features, fitted on the target's samples alone.

Ridge regression of log latency on the standardised log cost features (and the one-hot choices),
with the ridge strength chosen by leave-one-out error (closed form) and the samples reweighted as
Student-t noise, so that a hiccup among them does not move the fit. Log space because latency
errors are relative and the cost features act multiplicatively; ridge because 10-20 samples
against tens of features needs shrinkage. It uses nothing but the target's measurements: the
baseline that shows what meta-training adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from nasedge.predict.base import LatencyPredictor, PredictorConfig, StaleState

ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# Student-t reweighting of the samples (as meta's noise): a hiccup among 20 samples (one run 2x slow, a
# background job) otherwise moves every coefficient; degrees of freedom, rounds, and the floor of the residuals'
# robust scale (a relative error), below which no sample counts as an outlier
ROBUST_NU = 4.0
ROBUST_ITERS = 10
ROBUST_FLOOR = 0.03


class RidgeFit(NamedTuple):
    weights: np.ndarray
    bias: float
    alpha: float
    loo_residuals: np.ndarray  # y minus its leave-one-out prediction, at the chosen alpha
    sample_weights: np.ndarray  # each sample's weight in the fit (1: a full sample; near 0: an outlier)


def ridge_loo(X: np.ndarray, y: np.ndarray, alphas=ALPHAS, sample_weights: np.ndarray | None = None) -> RidgeFit:
    """Weighted ridge (intercept unpenalised) with the alpha of least weighted leave-one-out error."""
    n = len(y)
    w = np.ones(n) if sample_weights is None else np.asarray(sample_weights, float)
    mu, ym = w @ X / w.sum(), w @ y / w.sum()
    # in rows scaled by sqrt(w) the weighted fit is a plain one; the centred columns are orthogonal to the
    # intercept's column sqrt(w), whose leverage is w / sum(w)
    sw = np.sqrt(w)
    Xc, yc = (X - mu) * sw[:, None], (y - ym) * sw
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    uy = U.T @ yc
    best = None
    for a in alphas:
        d = s / (s**2 + a)
        beta = Vt.T @ (d * uy)
        h = np.einsum("ij,j,ij->i", U, s * d, U) + w / w.sum()
        resid = (y - ym - (X - mu) @ beta) / np.clip(1 - h, 1e-6, None)
        err = float(w @ resid**2 / w.sum())
        if best is None or err < best[0]:
            best = (err, beta, a, resid)
    _, beta, a, resid = best
    return RidgeFit(beta, float(ym - mu @ beta), float(a), resid, w)


def robust_ridge_loo(X: np.ndarray, y: np.ndarray, relative: bool, alphas=ALPHAS, nu: float = ROBUST_NU,
                     iters: int = ROBUST_ITERS) -> RidgeFit:
    """:func:`ridge_loo` with Student-t weights from ``iters`` rounds of reweighting on the leave-one-out residuals'
    robust scale (1.4826 x their median absolute value, at least :data:`ROBUST_FLOOR`). ``relative``: ``y`` is in
    units whose residuals are absolute (ms), so each is divided by its prediction; else ``y`` is a log already."""
    fit = ridge_loo(X, y, alphas)
    for _ in range(iters):
        # leave-one-out residuals: with as many columns as samples the fit's own residuals hide a hiccup
        predicted = y - fit.loo_residuals
        e = fit.loo_residuals / np.maximum(np.abs(predicted), 1e-12) if relative else fit.loo_residuals
        scale = max(1.4826 * float(np.median(np.abs(e))), ROBUST_FLOOR)
        fit = ridge_loo(X, y, alphas, (nu + 1.0) / (nu + (e / scale) ** 2))
    return fit


class RidgePredictor(LatencyPredictor):
    """Ridge regression on standardised columns of the archs, fitted per device; a subclass says which columns
    (:meth:`_columns`, and :meth:`_extra` beside them unstandardised) and whether latency is modelled in log space."""

    log = False

    def _columns(self, items: list) -> np.ndarray:
        raise NotImplementedError

    def _width(self) -> int:
        """How many columns :meth:`_columns` gives."""
        raise NotImplementedError

    def _extra(self, items: list) -> np.ndarray | None:
        return None

    def _design(self, items: list, columns: np.ndarray | None = None) -> np.ndarray:
        """The regression's design matrix; ``columns``: :meth:`_columns` of ``items``, where the caller has them."""
        z = ((self._columns(items) if columns is None else columns) - self.mean) / self.scale
        extra = self._extra(items)
        return z if extra is None else np.concatenate([z, extra], 1)

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        c = self._columns(items)
        self.mean, self.scale = c.mean(0), np.where(c.std(0) > 1e-9, c.std(0), 1.0)
        fit = robust_ridge_loo(self._design(items, c), np.log(latency_ms) if self.log else latency_ms,
                               relative=not self.log)
        self.weights, self.bias, self.alpha = fit.weights, fit.bias, fit.alpha
        # leave-one-out predictions of the samples (ms), for a caller weighing this model against others
        self.loo_ms = latency_ms * np.exp(-fit.loo_residuals) if self.log else latency_ms - fit.loo_residuals

    def _predict(self, items: list) -> np.ndarray:
        z = self._design(items) @ self.weights + self.bias
        return np.exp(z) if self.log else z

    def _state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(),
                "bias": self.bias, "alpha": self.alpha}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.mean, self.scale = np.asarray(state["mean"], float), np.asarray(state["scale"], float)
        self.weights, self.bias = np.asarray(state["weights"], float), float(state["bias"])
        self.alpha = float(state["alpha"])
        if len(self.mean) != self._width():  # e.g. a totals state from before the kinds of cost were regrouped
            raise StaleState(f"the {self.name} predictor was fitted on {len(self.mean)} columns, but it now "
                             f"builds {self._width()} from the encoding; refit it from its measurements")


class RegressorPredictor(RidgePredictor):
    """Ridge on log cost features (+ one-hot choices), fitted per device."""

    name = "regressor"
    min_samples = 3
    log = True

    @dataclass
    class Config(PredictorConfig):
        name: str = "regressor"
        onehot: bool = True  # one-hot choices beside the cost features

    def __init__(self, space, onehot: bool = True, **options: Any):
        super().__init__(space, onehot=onehot, **options)
        self.onehot = onehot

    def _columns(self, items: list) -> np.ndarray:
        return np.log1p(self.encoding.features(items))

    def _width(self) -> int:
        return len(self.encoding.feature_names)

    def _extra(self, items: list) -> np.ndarray | None:
        return self.encoding.onehot(items) if self.onehot else None
