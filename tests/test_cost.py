from nasedge.arch import Arch
from nasedge.cost import arch_cost
from nasedge.spaces import get_space


def test_known_sizes_of_the_published_space():
    # OFA-MobileNetV3 w1.0 at its largest (d4 e6 k7, 224px); figures from torch's own counters
    space = get_space("ofa_mbv3_w1.0")
    cost = arch_cost(space.max_arch(), space)
    assert cost.params == 7_664_760 and cost.macs == 566_170_656


def test_parts_add_up_and_depth_costs_more():
    space = get_space("ofa_mbv3_cifar")
    a = space.sample(0)
    cost = arch_cost(a, space)
    assert sum(p for _, p, _ in cost.parts) == cost.params and sum(m for *_, m in cost.parts) == cost.macs
    deeper = Arch(a.space, [k or 3 for k in a.kernel], [e or 3 for e in a.expand], [4] * 5, a.resolution)
    assert arch_cost(deeper, space).macs > cost.macs
    assert len(arch_cost(deeper, space).parts) == 2 + 20 + 1
