"""The meta predictor's guard against a prior that does not fit: a blend with prior-free models chosen
by leave-one-out error on the target's own samples, recorded in the fitted state."""

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict import create_predictor, predictor_from_dict
from nasedge.predict.calibration import fit_linear, fit_linear_loo
from nasedge.predict.meta import choose_blend, flat_adapt, meta_train, rounding_variance, variance_groups
from nasedge.predict.regressor import ridge_loo


def _train(ds, exclude):
    sources = [d for d in ds.devices if d not in exclude]
    return meta_train(ds.encoding, ds.items, ds.latency[:, [ds.device_index(d) for d in sources]], sources)


def _gpus_model(ds):
    gpus = [d for d in ds.devices if d.startswith(("1080ti", "2080ti", "titan"))]
    return meta_train(ds.encoding, ds.items, ds.latency[:, [ds.device_index(d) for d in gpus]], gpus)


def test_closed_form_leave_one_out_matches_refitting():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 10, 12)
    y = 0.5 * x + 1 + rng.normal(0, 0.2, 12)
    loo = fit_linear_loo(x, y)
    for i in range(12):
        keep = np.arange(12) != i
        a, b = fit_linear(x[keep], y[keep])
        assert loo[i] == pytest.approx(a * x[i] + b, rel=1e-9)
    X = rng.normal(size=(15, 4))
    t = X @ [1.0, -0.5, 0.2, 0.0] + rng.normal(0, 0.1, 15)
    fit = ridge_loo(X, t)
    i = 3
    keep = np.arange(15) != i
    mu, tm = X[keep].mean(0), t[keep].mean()
    w = np.linalg.solve((X[keep] - mu).T @ (X[keep] - mu) + fit.alpha * np.eye(4), (X[keep] - mu).T @ (t[keep] - tm))
    assert t[i] - fit.loo_residuals[i] == pytest.approx(tm + (X[i] - mu) @ w, rel=1e-9)


def test_choose_blend_keeps_the_prior_unless_the_samples_say_otherwise():
    y = np.linspace(10, 20, 20)
    good, bad = y * 1.01, y[::-1]
    fit = choose_blend(y, {"prior": good, "flops": bad})
    assert fit["weights"] == {"prior": 1.0} and "the prior fits" in fit["reason"]
    fit = choose_blend(y, {"prior": bad, "flops": good})
    assert fit["weights"] == {"flops": 1.0} and "does not fit" in fit["reason"]
    fit = choose_blend(y, {"prior": y * 1.1, "flops": y * 0.9})  # errors of opposite sign cancel
    assert fit["weights"] == {"prior": 0.5, "flops": 0.5}
    assert fit["blend_error"] < min(fit["loo_error"].values())


def test_the_prior_fits_unless_the_blend_gains_a_margin_on_it():
    y = np.linspace(10, 20, 20)
    e = 0.04 * np.where(np.arange(20) % 2, 1.0, -1.0)
    # a candidate 10 % better on every sample: clearly better, but by less than MISMATCH_GAIN
    near = choose_blend(y, {"prior": y * (1 + e), "flops": y * (1 + 0.9 * e)}, resamples=0)
    assert near["weights"] == {"flops": 1.0} and near["prior_fits"] and "fits about as well" in near["reason"]
    far = choose_blend(y, {"prior": y * (1 + e), "flops": y * (1 + 0.7 * e)}, resamples=0)
    assert far["weights"] == {"flops": 1.0} and not far["prior_fits"] and "does not fit" in far["reason"]


def test_choose_blend_averages_its_rule_over_resamples_of_the_samples():
    y = np.linspace(10, 20, 20)
    e = 0.05 * np.random.default_rng(0).standard_normal(20)
    # a prior-free model about as good as the prior: the rule keeps the prior on the samples as drawn...
    loo = {"prior": y * (1 + e), "flops": y * (1 + e + 0.02 * np.random.default_rng(1).standard_normal(20))}
    hard = choose_blend(y, loo, resamples=0)
    assert hard["weights"] == {"prior": 1.0} and hard["prior_fits"]
    # ...but not on every resample of them: the weights are the share of resamples that pick each blend
    soft = choose_blend(y, loo)
    assert soft["prior_fits"] and 0.5 < soft["weights"]["prior"] < 1.0
    assert sum(soft["weights"].values()) == pytest.approx(1.0)
    assert "resamples" in soft["reason"] and soft == choose_blend(y, loo)  # a fixed seed: same samples, same fit
    # a clear case stays clear
    assert choose_blend(y, {"prior": y * 1.01, "flops": y[::-1]})["weights"] == {"prior": 1.0}


def test_flat_model_recovers_a_linear_device(nb201_sample):
    ds = nb201_sample
    model = _gpus_model(ds)
    phi = model.basis(ds.encoding, ds.items)
    true = np.abs(np.random.default_rng(1).normal(size=phi.shape[1])) * 0.1
    true[-1] = 1.0
    y = phi @ true
    rows = np.arange(60)
    groups = variance_groups(model.onehot_width, model.feature_names)
    head, loo, hyper = flat_adapt(groups, phi[rows], y[rows], np.ones(60))
    assert np.median(np.abs(loo - y[rows]) / y[rows]) < 0.05, hyper
    assert np.median(np.abs(phi[60:] @ head - y[60:]) / y[60:]) < 0.05


def test_cost_features_are_grouped_by_kind():
    groups = variance_groups(3, ("s0_blocks", "s0_pw_macs", "s0_dw3_macs", "s0_se_macs", "s0_act", "macs",
                                 "params", "pixels", "layers", "resolution"))
    assert {k: v.tolist() for k, v in groups.items()} == {
        "choices": [0, 1, 2], "counts": [3, 11], "pointwise": [4], "depthwise": [5], "squeeze-excite": [6],
        "activations": [7, 10], "macs": [8], "params": [9], "resolution": [12]}


def test_flat_model_drops_the_kinds_of_cost_a_device_does_not_pay_for(ofa_sample):
    """A device whose latency is its pointwise MACs alone: the evidence keeps that kind and sets the
    variance of most others to zero, and 20 samples predict the rest within a few per cent."""
    ds = ofa_sample
    model = _train(ds, ())
    phi = model.basis(ds.encoding, ds.items)
    pw = [model.onehot_width + i for i, n in enumerate(model.feature_names) if "pw_macs" in n]
    y = 0.5 + phi[:, pw].sum(1)
    rows = np.arange(20)
    groups = variance_groups(model.onehot_width, model.feature_names)
    head, loo, hyper = flat_adapt(groups, phi[rows], y[rows], (y[rows] / y[rows].mean()) ** 2)
    assert hyper["variances"]["pointwise"] > 0
    assert sum(v == 0 for v in hyper["variances"].values()) >= 3, hyper
    assert np.median(np.abs(phi[20:] @ head - y[20:]) / y[20:]) < 0.03


def test_whole_millisecond_samples_count_their_rounding():
    assert rounding_variance(np.array([17.0, 33.0, 118.0])) == pytest.approx(1 / 12)
    assert rounding_variance(np.array([1.5, 2.3])) == pytest.approx(0.01 / 12)
    assert rounding_variance(np.array([1.76045, 2.27796])) == 0.0
    # the same in other units: whole microseconds of a 3-5 us network, or of a 30-50 us one, are as coarse
    # as whole milliseconds of a phone; microseconds of 1.7-2.3 ms are not
    assert rounding_variance(np.array([17.0, 33.0, 118.0]) / 1000) == pytest.approx(1e-6 / 12)
    assert rounding_variance(np.array([31.0, 45.0, 52.0]) / 1000) == pytest.approx(1e-6 / 12)
    assert rounding_variance(np.array([1760.0, 2278.0]) / 1000) == 0.0
    assert rounding_variance(np.array([170.0, 330.0, 1180.0])) == pytest.approx(100 / 12)  # 10 ms ticks


def test_a_device_unlike_the_sources_is_blended_and_the_state_round_trips(nb201_sample):
    """GPU sources, a target whose latency is MACs alone: the blend moves weight off the prior, says so,
    and a stored state predicts the same."""
    ds = nb201_sample
    model = _gpus_model(ds)
    rows = np.arange(20)
    items = [ds.items[i] for i in rows]
    y = 2.0 + ds.encoding.macs(items) / 1e7
    p = create_predictor("meta", ds.encoding, model=model).fit(items, y)
    blend = p.hyper["blend"]
    assert blend["weights"].get("prior", 0.0) < 1.0, blend
    assert set(blend["loo_error"]) == {"prior", "flat", "regressor", "flops", "totals"}
    query = [ds.items[i] for i in range(20, 120)]
    truth = 2.0 + ds.encoding.macs(query) / 1e7
    assert np.median(np.abs(p.predict(query) - truth) / truth) < 0.02
    state = p.to_dict()
    assert state["options"]["blend"] == "loo"
    # from_dict loads the shipped meta model; this one was trained here, so rebuild around it
    again = create_predictor("meta", ds.encoding, model=model)
    again._load_state(state["state"])
    again.fitted = True
    assert np.allclose(again.predict(query), p.predict(query))


def test_blend_off_and_states_stored_before_the_blend(nb201_sample):
    ds = nb201_sample
    model = _gpus_model(ds)
    items = [ds.items[i] for i in range(20)]
    y = ds.column("pixel3")[:20]
    plain = create_predictor("meta", ds.encoding, model=model, blend="off").fit(items, y)
    assert "blend" not in plain.hyper and "blend" not in plain.to_dict()["state"]
    # a state without "blend" (stored before it existed) predicts with the prior-based head alone
    loaded = create_predictor("meta", ds.encoding, model=model)
    loaded.floor = plain.to_dict()["floor"]
    loaded._load_state(plain.to_dict()["state"])
    loaded.fitted = True
    query = [ds.items[i] for i in range(20, 80)]
    assert np.array_equal(loaded.predict(query), plain.predict(query))
    with pytest.raises(NasedgeError, match="option blend"):
        create_predictor("meta", ds.encoding, model=model, blend="sometimes")


def test_shipped_profile_still_loads_and_predicts():
    from nasedge.predict.profile import load_profile

    prof = load_profile("cpu", space="ofa_mbv3_cifar")
    p = predictor_from_dict(prof.state)
    pred = p.predict(prof.archs())
    # refitted with the prior over every device type (issue 20): its samples chose a blend
    assert np.all(pred > 0) and sum(p.weights.values()) == pytest.approx(1.0)
    assert "reason" in p.hyper["blend"] and prof.quality["within_10pct"] >= 0.9
