from nasedge.arch import Arch
from nasedge.cost import arch_cost, layer_cost, part_name
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


def test_golden_costs_of_every_shipped_space():
    # computed before the layer walk moved into the space family; any change here changes features
    golden = {"ofa_mbv3_cifar": [(2142602, 20516432), (6396570, 179706624), (2550762, 70291968)],
              "ofa_mbv3_tiny": [(6938, 195040), (25834, 1068768), (21866, 828736)],
              "ofa_mbv3_w1.0": [(3410792, 41476224), (7664760, 566170656), (3818952, 168348608)],
              "ofa_mbv3_w1.2": [(4602456, 65536896), (10701632, 843101040), (5195624, 261904352)]}
    for name, figures in golden.items():
        space = get_space(name)
        archs = [space.min_arch(), space.max_arch(), space.sample_many(50, 0)[0]]
        assert [(c.params, c.macs) for c in (arch_cost(a, space) for a in archs)] == figures, name


def test_parts_are_the_layers_of_the_walk():
    space = get_space("ofa_mbv3_cifar")
    a = space.sample(0)
    cost = arch_cost(a, space)
    assert cost.parts == (("stem", 464, 442368), ("first_block", 464, 409600), ("block0", 4512, 4374528),
                          ("block1", 11136, 10764288), ("block2", 11136, 10764288), ("block4", 12200, 3568128),
                          ("block5", 53424, 5498880), ("block8", 32080, 3824640), ("block9", 102400, 6420480),
                          ("block12", 84288, 3363840), ("block13", 396872, 10934784), ("block16", 161016, 3462144),
                          ("block17", 283640, 2764800), ("head", 1397130, 3699200))
    layers = space.layers(a)
    assert cost.parts == tuple((part_name(x), layer_cost(x).params, layer_cost(x).macs) for x in layers)
    for x in layers:
        c = layer_cost(x)
        assert c.macs >= c.pointwise_macs + c.depthwise_macs + c.se_macs and c.activations > 0 and c.ops >= 1
    assert arch_cost(a, space, num_classes=100).parts[-1][1] == 1397130 + 90 * 1281  # classifier: 1280 weights + bias
