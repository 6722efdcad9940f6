"""The cost-model proxies have the shape the search tests and the benchmark rely on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from nasedge.cost import arch_cost
from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
from nasedge.spaces import get_space


@pytest.mark.parametrize("name", ["ofa_mbv3_cifar", "ofa_mbv3_w1.2"])
def test_proxy_shapes(name):
    space = get_space(name)
    acc, lat = ProxyAccuracy(space), ProxyLatency(space)
    small, big = space.min_arch(), space.max_arch()
    assert acc([small])[0] == pytest.approx(70.0) and 93 < acc([big])[0] < 95
    assert lat([small])[0] < lat([big])[0]
    archs = space.sample_many(300, 0)
    a, t = acc(archs), lat(archs)
    assert np.all((70 <= a) & (a <= 95))
    macs = [arch_cost(x, space).macs for x in archs]
    assert spearmanr(t, macs)[0] > 0.9  # latency is MACs-driven
    # ...but accuracy is not just latency: a search has trade-offs to find
    assert spearmanr(a, t)[0] < 0.92
    # more of every choice never lowers either
    for x in archs[:20]:
        grown = space.crossover(x, big, 0)
        assert acc([grown])[0] >= acc([x])[0] - 1e-9 and lat([grown])[0] >= lat([x])[0] - 1e-9


def test_latency_formula_on_the_smallest_arch():
    space = get_space("ofa_mbv3_cifar")
    lat = ProxyLatency(space, ms_per_mmac=1.0, ms_per_dw_mmac=0.0, ms_per_block=0.0, ms_fixed=0.0)
    assert lat([space.min_arch()])[0] == pytest.approx(arch_cost(space.min_arch(), space).macs / 1e6)
    per_block = ProxyLatency(space, ms_per_mmac=0.0, ms_per_dw_mmac=0.0, ms_per_block=1.0, ms_fixed=0.0)
    assert per_block([space.max_arch()])[0] == sum(space.max_arch().depth)
