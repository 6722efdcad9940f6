"""Conformance suite: every registered latency predictor (plugins' too) must pass all of these, on real latencies.

Predictors fit from the shipped OFA sample with no options, except those that need more: ``lut`` (a
measured table) and ``meta`` (meta-trained weights), set up in :func:`case`.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from nasedge.errors import ArchError, NasedgeError
from nasedge.predict import create_predictor, list_predictors, predictor_class, predictor_from_dict
from nasedge.predict.meta import meta_train
from nasedge.predict.metrics import quality
from nasedge.predict.profile import DeviceProfile, fit_profile
from nasedge.spaces import get_space

PREDICTORS = list_predictors()
TARGET = "titan_xp_32"  # a device of the shipped OFA sample, held out of the meta model below


def test_registry():
    assert PREDICTORS[:5] == ["flops", "lut", "regressor", "meta", "totals"]  # nasedge's own, then plugins'
    with pytest.raises(NasedgeError, match="unknown latency predictor 'nope'"):
        create_predictor("nope", "ofa")
    for name in PREDICTORS:
        assert predictor_class(name).name == name


@pytest.fixture(params=PREDICTORS)
def case(request, ofa_sample, cifar_lut_case, tmp_path):
    """(name, space, options, train archs, train ms, test archs, test ms, min spearman, max MAPE)."""
    name = request.param
    if name == "lut":
        space, table, archs, lat = cifar_lut_case
        return name, space, {"table": table}, archs[::2], lat[::2], archs[1::2], lat[1::2], 0.6, 35.0
    ds = ofa_sample
    y = ds.column(TARGET)
    train = np.concatenate([list(ds.reference), np.flatnonzero(ds.arch_ids < 10)])  # 20 measurements
    test = np.flatnonzero(ds.arch_ids >= 4000)
    options = {}
    if name == "meta":
        sources = [d for d in ds.devices if d != TARGET]
        model = meta_train(ds.encoding, ds.items, ds.latency[:, [ds.device_index(d) for d in sources]], sources)
        model.save(tmp_path / "meta.npz")
        options = {"weights": str(tmp_path / "meta.npz")}
    return (name, get_space("ofa_mbv3_w1.2"), options, [ds.items[i] for i in train], y[train],
            [ds.items[i] for i in test], y[test], 0.95, 10.0)


def test_fit_predict_quality(case):
    name, space, options, xa, ya, xb, yb, min_rho, max_mape = case
    p = create_predictor(name, space, **options)
    assert p.fit(xa, ya) is p
    pred = p.predict(xb)
    assert pred.dtype == np.float64 and pred.shape == (len(xb),)
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)
    q = quality(pred, yb)
    assert q["spearman"] >= min_rho and q["mape"] <= max_mape, q
    assert p.predict([]).shape == (0,)


def test_no_prediction_under_the_floor(case):
    """One wildly slow sample tilts a linear fit so far that it would predict zero or less for fast archs; no
    prediction falls under a quarter of the fastest sample, after a round trip through JSON too."""
    name, space, options, xa, ya, xb, *_ = case
    y = np.array(ya, dtype=float)
    y[np.argmax(y)] *= 1000.0
    p = create_predictor(name, space, **options).fit(xa, y)
    pred = p.predict(list(xa) + list(xb))
    assert np.all(np.isfinite(pred)) and pred.min() >= 0.25 * y.min() - 1e-12, pred.min()
    again = predictor_from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_allclose(again.predict(xb), p.predict(xb), rtol=1e-12)


def test_the_unit_does_not_matter(case):
    """A device k times faster or slower is predicted k times faster or slower, its timings as measured and
    rounded to a step of the device's timer (phones: whole milliseconds; then the faster one reports whole
    microseconds): nothing in a predictor may hang on the unit, its noise model included."""
    name, space, options, xa, ya, xb, *_ = case
    y = np.asarray(ya, dtype=float)
    step = 10.0 ** np.floor(np.log10(np.median(y))) / 10
    for times in (y, np.round(y / step) * step):
        base = create_predictor(name, space, **options).fit(xa, times).predict(xb)
        for k in (1e-3, 1e3):
            scaled = create_predictor(name, space, **options).fit(xa, times * k).predict(xb)
            np.testing.assert_allclose(scaled / k, base, rtol=1e-6, err_msg=f"latencies x {k:g}")


def test_state_round_trip(case):
    name, space, options, xa, ya, xb, _, *_ = case
    p = create_predictor(name, space, **options).fit(xa, ya)
    state = json.loads(json.dumps(p.to_dict()))  # JSON-able
    assert state["predictor"] == name and state["space"] == space.name
    for q in (predictor_class(name).from_dict(state), predictor_from_dict(state)):
        np.testing.assert_allclose(q.predict(xb), p.predict(xb), rtol=1e-12)
        # what it chose on the device and why (one line, or nothing to say) is kept with the state
        assert q.adaptation() == p.adaptation() and isinstance(p.adaptation(), str) and "\n" not in p.adaptation()


def test_profile_round_trip(case, tmp_path):
    name, space, options, xa, ya, xb, _, *_ = case
    profile = fit_profile("dev-1", space, xa, ya, name, **options)
    assert set(profile.quality) >= {"spearman", "mape", "within_10pct"}
    again = DeviceProfile.from_json(profile.to_json())
    np.testing.assert_allclose(again.predict(xb), profile.predict(xb), rtol=1e-12)
    assert again.archs() == list(xa) and np.allclose(again.latencies(), ya)


def test_bad_inputs(case):
    name, space, options, xa, ya, *_ = case
    p = create_predictor(name, space, **options)
    with pytest.raises(RuntimeError, match="not fitted"):
        p.predict(xa)
    with pytest.raises(NasedgeError, match="one latency per arch"):
        p.fit(xa, ya[:-1])
    bad = np.array(ya, dtype=float)
    bad[3] = -1.0
    with pytest.raises(NasedgeError, match="latency -1.0 ms of measurement 3"):
        p.fit(xa, bad)
    for value in (1.7e308, 1e-320):  # an overflow and a unit mistake: the fit would predict NaN or break
        bad[3] = value
        with pytest.raises(NasedgeError, match=re.escape(f"latency {value!r} ms of measurement 3 is not valid; "
                                                         "expected a number of milliseconds from 1e-06 to 1e+07")):
            p.fit(xa, bad)
    edge = np.array(ya, dtype=float) / np.mean(ya)  # the ends of the range fit to finite predictions
    edge[:len(edge) // 2] *= 1e-6
    edge[len(edge) // 2:] *= 5e6
    assert np.all(np.isfinite(create_predictor(name, space, **options).fit(xa, np.clip(edge, 1e-6, 1e7))
                              .predict(xa)))
    p.fit(xa, ya)
    other = get_space("ofa_mbv3_w1.0").sample(0)
    with pytest.raises(ArchError, match="field 'space'"):
        p.predict([other])
    state = p.to_dict()
    state["predictor"] = "something-else"
    with pytest.raises(NasedgeError):
        predictor_class(name).from_dict(state)


def test_unknown_option_is_refused(case):
    """A misspelt or retired option is an error, in code and in a stored profile, never silently ignored."""
    name, space, options, xa, ya, *_ = case
    with pytest.raises(NasedgeError, match=f"predictor '{name}': unknown option 'warp_speed'; known: "):
        create_predictor(name, space, warp_speed=2, **options)
    state = create_predictor(name, space, **options).fit(xa, ya).to_dict()
    state["options"]["warp_speed"] = 2
    with pytest.raises(NasedgeError, match="unknown option 'warp_speed'"):
        predictor_from_dict(state)
