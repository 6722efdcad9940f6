"""Verification when the latency profile under-predicts: further rounds converge on archs that meet the budget."""

from types import SimpleNamespace

import pytest

from nasedge.cost import arch_cost
from nasedge.errors import NasedgeError
from nasedge.specialize import verify
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")


class _ScaledDevice:
    """Latency = ``scale`` x a MACs-linear model (the predictor believes scale 1): a systematic under-prediction."""

    name = "scaled"

    def __init__(self, scale: float):
        self.scale, self.calls = scale, 0

    def measure(self, archs, ray_address=None, on_chunk=None):
        self.calls += 1
        out = [SimpleNamespace(median_ms=self.scale * _predicted(a), p90_ms=0.0, noisy=False) for a in archs]
        if on_chunk:
            on_chunk(out)
        return out


def _predicted(arch) -> float:
    return 0.5 + arch_cost(arch, SPACE).macs / 5e7


def _scored(budget: float):
    archs = SPACE.sample_many(300, 0)
    cands = [SimpleNamespace(arch=a, objective=float(arch_cost(a, SPACE).params) / 1e5, constraint=_predicted(a))
             for a in archs if _predicted(a) <= budget]
    return sorted(cands, key=lambda c: -c.objective)


def test_more_rounds_find_archs_within_budget_when_all_finalists_miss():
    budget = 2.0
    scored = _scored(budget)
    device = _ScaledDevice(1.25)
    finalists = verify(device, scored, budget, top_k=3)
    assert not any(f.within_budget for f in finalists[:3])  # the first round all miss
    ok = [f for f in finalists if f.within_budget]
    assert ok and all(f.measured_ms <= budget for f in ok) and device.calls >= 2


def test_gives_up_with_one_line_when_nothing_can_meet_the_budget():
    budget = 2.0
    scored = _scored(budget)
    with pytest.raises(NasedgeError, match="none of the .* finalists meets 2 ms when measured on scaled"):
        verify(_ScaledDevice(100.0), scored, budget, top_k=3)
