"""The measurement protocol on runners with known behaviour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import ProtocolConfig, measure_interleaved


def sampled(values):
    """A runner that reports the next of ``values`` (cycling): the protocol's statistics are exact."""
    it = iter(np.resize(np.asarray(values, dtype=float), 100_000))
    return lambda: float(next(it))


def test_steady_runners_stop_early_and_are_not_noisy():
    cfg = ProtocolConfig(warmup_runs=2, warmup_s=0.0, min_rounds=3, max_rounds=30, tolerance=0.01)
    rng = np.random.default_rng(0)
    runners = [sampled(10 + 0.01 * rng.standard_normal(1000)), sampled(20 + 0.02 * rng.standard_normal(1000))]
    a, b = measure_interleaved(runners, cfg)
    assert a.median_ms == pytest.approx(10, rel=1e-3) and b.median_ms == pytest.approx(20, rel=1e-3)
    assert a.rounds == cfg.min_rounds  # stable from the start: no more rounds than required
    assert not a.noisy and a.reason == "" and a.cpu_share is None
    assert a.p90_ms >= a.median_ms >= a.min_ms and a.spread < 0.01


def test_unstable_runner_is_flagged_with_reason_and_bounded():
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, min_rounds=3, max_rounds=8, tolerance=0.001, max_rse=0.01,
                         max_spread=0.25)
    rng = np.random.default_rng(1)
    (s,) = measure_interleaved([sampled(rng.lognormal(np.log(10), 0.8, 1000))], cfg)
    assert s.rounds == 8  # never stable: stops at the bound
    assert s.noisy and "not stable" in s.reason and "spread of single timings" in s.reason


def test_stable_runners_leave_the_rounds_early():
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, min_rounds=3, max_rounds=12, tolerance=0.01, max_spread=10)
    rng = np.random.default_rng(3)
    steady, shaky = measure_interleaved([sampled(np.full(100, 5.0)), sampled(rng.lognormal(0, 1.0, 1000))], cfg)
    assert steady.rounds == 3 and shaky.rounds == 12


def test_time_bound_stops_rounds():
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, round_s=0.001, min_repeats=1, min_rounds=2, max_rounds=1000,
                         tolerance=1e-9, max_seconds=0.2)
    rng = np.random.default_rng(2)
    values = iter(rng.lognormal(0, 0.5, 100_000))

    def slowish() -> float:
        time.sleep(0.002)
        return float(next(values))

    t = time.perf_counter()
    (s,) = measure_interleaved([slowish], cfg)
    assert time.perf_counter() - t < 2.0 and 2 <= s.rounds < 1000


def test_descheduled_cpu_runner_is_flagged():
    # a runner that waits instead of computing gets no CPU time: exactly what contention looks like
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, round_s=0.002, min_rounds=2, max_rounds=2, max_spread=10)

    def waiting() -> float:
        t = time.perf_counter()
        time.sleep(0.002)
        return (time.perf_counter() - t) * 1e3

    (s,) = measure_interleaved([waiting], cfg, cpu_threads=1)
    assert s.cpu_share is not None and s.cpu_share < 0.5
    assert s.noisy and "requested CPU time" in s.reason


def test_busy_cpu_runner_gets_its_core():
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, round_s=0.005, min_rounds=2, max_rounds=2, max_spread=10,
                         min_cpu_share=0.0)

    def busy() -> float:
        t = time.perf_counter()
        while time.perf_counter() - t < 0.002:
            pass
        return (time.perf_counter() - t) * 1e3

    (s,) = measure_interleaved([busy], cfg, cpu_threads=1)
    assert s.cpu_share > 0.3  # generous: the test machine is shared; a waiting runner gets ~0


def test_on_noisy_raise_refuses():
    cfg = ProtocolConfig(warmup_runs=1, warmup_s=0.0, min_rounds=2, max_rounds=3, max_spread=0.05, on_noisy="raise")
    with pytest.raises(NasedgeError, match="noisy.*spread of single timings"):
        measure_interleaved([sampled([1.0, 5.0, 1.0, 9.0])], cfg)


def test_interleaving_rotates_and_cancels_drift():
    # two identical runners on a machine that slows down steadily: run back to back, the second would
    # look slower; interleaved, they come out equal
    t0 = time.perf_counter()
    calls = []

    def drifting(tag):
        def run() -> float:
            calls.append(tag)
            return 10.0 * (1 + (time.perf_counter() - t0))  # +100 % per second
        return run

    cfg = ProtocolConfig(warmup_runs=0, warmup_s=0.0, round_s=0.001, min_repeats=1, max_repeats=1, min_rounds=20,
                         max_rounds=20, max_spread=10, max_rse=10)
    a, b = measure_interleaved([drifting("a"), drifting("b")], cfg)
    assert abs(a.median_ms - b.median_ms) / a.median_ms < 0.01
    timed = calls[-40:]
    firsts = timed[0::2]
    assert firsts.count("a") == firsts.count("b") == 10  # who goes first alternates


@pytest.mark.parametrize("field, value", [("min_rounds", 1), ("tolerance", 0.0), ("on_noisy", "ignore"),
                                          ("max_rse", 0.001), ("group_size", 0)])
def test_bad_protocol_names_the_field(field, value):
    with pytest.raises(NasedgeError, match=f"field '{field}'"):
        ProtocolConfig(**{field: value})
    with pytest.raises(NasedgeError, match="unknown field 'rounds'"):
        ProtocolConfig.from_dict({"rounds": 3})
