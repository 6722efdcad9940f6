"""The ``totals`` predictor: ridge on the cost features summed per kind."""

from __future__ import annotations

import numpy as np

from nasedge.predict import create_predictor, get_encoding, predictor_from_dict
from nasedge.predict.encodings.base import feature_kind
from nasedge.spaces import get_space


def test_totals_fit_a_device_that_pays_per_kind_of_cost_from_few_samples():
    space = get_space("ofa_mbv3_cifar")
    enc = get_encoding(space)
    archs = space.sample_many(60, rng=0)
    f = enc.features(archs)
    kind = np.array([feature_kind(n) for n in enc.feature_names])
    # a device that pays for depthwise MACs and activations alone, at its own rates
    latency = 0.3 + 2e-7 * f[:, kind == "depthwise"].sum(1) + 4e-6 * f[:, kind == "activations"].sum(1)
    p = create_predictor("totals", space).fit(archs[:15], latency[:15])
    assert p.weights.shape == (len(set(kind)),)  # one coefficient per kind, not per feature
    assert np.max(np.abs(p.predict(archs[15:]) / latency[15:] - 1)) < 0.01
    assert np.max(np.abs(p.loo_ms / latency[:15] - 1)) < 0.01  # what meta's blend weighs it by
    # from 15 samples, the per-feature regressor does not get there
    r = create_predictor("regressor", space).fit(archs[:15], latency[:15])
    assert np.median(np.abs(r.predict(archs[15:]) / latency[15:] - 1)) > 0.01
    q = predictor_from_dict(p.to_dict())
    assert np.allclose(q.predict(archs[15:]), p.predict(archs[15:]))
