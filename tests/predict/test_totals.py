"""The ``totals`` predictor: ridge on the cost features summed per kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nasedge.predict import create_predictor, get_encoding, predictor_from_dict
from nasedge.predict.base import StaleState
from nasedge.predict.profile import DeviceProfile, fit_profile
from nasedge.predict.encodings.base import feature_kind
from nasedge.spaces import get_space


def test_totals_fit_a_device_that_pays_per_kind_of_cost_from_few_samples(per_kind_device):
    space, archs, latency = per_kind_device
    kinds = {feature_kind(n) for n in get_encoding(space).feature_names}
    p = create_predictor("totals", space).fit(archs[:15], latency[:15])
    assert p.weights.shape == (len(kinds),)  # one coefficient per kind, not per feature
    assert np.max(np.abs(p.predict(archs[15:]) / latency[15:] - 1)) < 0.01
    assert np.max(np.abs(p.loo_ms / latency[:15] - 1)) < 0.01  # what meta's blend weighs it by
    # from 15 samples, the per-feature regressor does not get there
    r = create_predictor("regressor", space).fit(archs[:15], latency[:15])
    assert np.median(np.abs(r.predict(archs[15:]) / latency[15:] - 1)) > 0.01
    q = predictor_from_dict(p.to_dict())
    assert np.allclose(q.predict(archs[15:]), p.predict(archs[15:]))


def test_a_state_of_another_column_layout_is_stale_and_its_profile_refits(tmp_path):
    """A totals state stored before the kinds of cost were regrouped (one column fewer) cannot be loaded as it is:
    it says it is stale, and a device profile holding it refits from its measurements instead of failing."""
    space = get_space("ofa_mbv3_cifar")
    archs = space.sample_many(20, rng=1)
    latency = 1.0 + get_encoding(space).macs(archs) * 1e-7
    profile = fit_profile("board", "ofa_mbv3_cifar", archs, latency, "totals")
    state = profile.state["state"]
    old = {**state, "mean": state["mean"][:-1], "scale": state["scale"][:-1], "weights": state["weights"][:-1]}
    with pytest.raises(StaleState, match="fitted on 7 columns, but it now builds 8"):
        predictor_from_dict({**profile.state, "state": old})
    doc = json.loads(profile.to_json())
    doc["state"]["state"] = old
    stored = DeviceProfile.from_json(json.dumps(doc))
    assert np.allclose(stored.predict(archs), profile.predict(archs))


def test_a_meta_profile_whose_blend_holds_a_stale_totals_state_refits():
    space = get_space("ofa_mbv3_cifar")
    enc = get_encoding(space)
    archs = space.sample_many(20, rng=3)
    latency = 0.5 + 0.05 * enc.features(archs)[:, list(enc.feature_names).index("layers")] + 2e-8 * enc.macs(archs)
    profile = fit_profile("board", "ofa_mbv3_cifar", archs, latency, "meta")
    doc = json.loads(profile.to_json())
    blend = doc["state"]["state"]["blend"]
    state = create_predictor("totals", space).fit(archs, latency)._state()
    blend["weights"] = {"prior": 0.5, "totals": 0.5}
    blend["totals"] = {k: v[:-1] if k in ("mean", "scale", "weights") else v for k, v in state.items()}
    stored = DeviceProfile.from_json(json.dumps(doc))
    assert np.allclose(stored.predict(archs), profile.predict(archs))  # refitted, not the doctored weights
    assert stored.latency_predictor.weights == profile.latency_predictor.weights
