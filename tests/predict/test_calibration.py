import numpy as np

from nasedge.predict.calibration import TIE_SLOPE, fit_linear, fit_linear_loo


def _explicit_loo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        a, b = fit_linear(np.delete(x, i), np.delete(y, i))
        out[i] = a * x[i] + b
    return out


def test_leave_one_out_in_closed_form_is_the_explicit_one_at_the_scale_of_macs():
    """MACs of 1e8 beside an intercept of milliseconds: the normal equations lost the intercept, and the
    leave-one-out errors that meta's blend weighs `flops` by were those of another model (2-3x too large)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        macs = rng.uniform(1e8, 6e8, 20)
        y = (2.0 + 1.5e-8 * macs) * rng.normal(1.0, 0.05, 20)
        np.testing.assert_allclose(fit_linear_loo(macs, y), _explicit_loo(macs, y), rtol=1e-6)
        a, b = fit_linear(macs, y)
        assert a > 0 and 1.0 < b < 3.0  # the intercept survives


def test_a_device_whose_latency_does_not_grow_with_the_cost_is_predicted_flat():
    """The slope at its bound gives the best constant (it fell back to latency = a * cost: 6-98 % error on a flat
    accelerator), with the cost only breaking ties."""
    rng = np.random.default_rng(1)
    cost = rng.uniform(1.0, 10.0, 20)
    y = 3.0 * rng.normal(1.0, 0.005, 20) - 0.01 * cost  # hardly any dependence, and a negative one
    a, b = fit_linear(cost, y)
    pred = a * cost + b
    assert 0 < a and np.ptp(pred) <= 1.01 * TIE_SLOPE * b
    assert np.mean(np.abs(pred / y - 1)) < 0.02
    assert np.array_equal(np.argsort(pred), np.argsort(cost))  # still ranked by the cost


def test_one_sample_or_one_cost_is_a_ratio():
    assert fit_linear(np.array([4.0]), np.array([2.0])) == (0.5, 0.0)
    a, b = fit_linear(np.array([4.0, 4.0]), np.array([2.0, 2.2]))
    assert b == 0.0 and 0.5 < a < 0.55
