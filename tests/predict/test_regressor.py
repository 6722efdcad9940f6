"""The ridge fits under ``regressor`` and ``totals``: weighted leave-one-out in closed form, and samples that read
slow (a hiccup on the device) reweighted away instead of moving every coefficient."""

from __future__ import annotations

import numpy as np
import pytest

from nasedge.predict import create_predictor
from nasedge.predict.regressor import ridge_loo, robust_ridge_loo


def test_weighted_leave_one_out_matches_refitting_without_the_sample():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(15, 4))
    y = X @ [1.0, -0.5, 0.2, 0.0] + 3 + rng.normal(0, 0.1, 15)
    w = rng.uniform(0.1, 1.0, 15)
    fit = ridge_loo(X, y, sample_weights=w)
    for i in (0, 3, 14):
        keep = np.arange(15) != i
        wk = w[keep]
        mu, ym = wk @ X[keep] / wk.sum(), wk @ y[keep] / wk.sum()
        Xc = X[keep] - mu
        beta = np.linalg.solve(Xc.T @ (wk[:, None] * Xc) + fit.alpha * np.eye(4), Xc.T @ (wk * (y[keep] - ym)))
        assert y[i] - fit.loo_residuals[i] == pytest.approx(ym + (X[i] - mu) @ beta, rel=1e-9)
    # a sample of weight 0 is no sample
    w[6] = 0.0
    without, zero = ridge_loo(X[np.arange(15) != 6], y[np.arange(15) != 6], sample_weights=np.delete(w, 6)), \
        ridge_loo(X, y, sample_weights=w)
    assert np.allclose(without.weights, zero.weights) and without.bias == pytest.approx(zero.bias)


@pytest.mark.parametrize("relative", [True, False])
def test_a_hiccup_is_reweighted_away(relative):
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 5, size=(20, 3))
    clean = X @ [2.0, 1.0, 0.5] + 1.0 if relative else X @ [0.2, 0.1, 0.05]  # ms, or a log of them
    y = clean * (1 + rng.normal(0, 0.01, 20)) if relative else clean + rng.normal(0, 0.01, 20)
    y[[4, 11]] = y[[4, 11]] * 2 if relative else y[[4, 11]] + np.log(2)  # two runs read twice as slow
    robust, plain = robust_ridge_loo(X, y, relative=relative), ridge_loo(X, y)

    def error(fit):
        pred = X @ fit.weights + fit.bias
        return np.median(np.abs(pred / clean - 1) if relative else np.abs(pred - clean))

    assert robust.sample_weights[[4, 11]].max() < 0.1 < np.delete(robust.sample_weights, [4, 11]).min()
    assert error(robust) < 0.01 < error(plain)


def test_totals_shrugs_off_two_slow_samples(per_kind_device):
    """(``regressor``, with a column per choice beside every cost feature, has too many columns for 20 samples to
    single a hiccup out this clearly.)"""
    space, archs, latency = per_kind_device
    measured = latency[:20].copy()
    measured[[2, 9]] *= 2.0
    p = create_predictor("totals", space).fit(archs[:20], measured)
    clean = create_predictor("totals", space).fit(archs[:20], latency[:20])
    err, err_clean = (np.median(np.abs(q.predict(archs[20:]) / latency[20:] - 1)) for q in (p, clean))
    assert err < err_clean + 0.01
    # what meta's blend weighs it by: the slow samples are predicted as the others say they should be
    assert np.abs(p.loo_ms[[2, 9]] / latency[[2, 9]] - 1).max() < 0.1
