"""Workloads: subnets and lookup-table parts build the networks they describe."""

from __future__ import annotations

import pytest
import torch

from nasedge.errors import NasedgeError
from nasedge.measure.workload import Artifacts, Part, Subnet, arch_parts, lookup_table_parts
from nasedge.spaces import get_space


@pytest.mark.parametrize("space_name", ["ofa_mbv3_cifar", "ofa_mbv3_w1.2"])
def test_parts_chain_into_the_subnet(space_name):
    space = get_space(space_name)
    arch = space.sample(3)
    parts = arch_parts(arch)
    assert [p.kind for p in parts[:2]] + [parts[-1].kind] == ["stem", "first_block", "head"]
    assert len(parts) == 3 + sum(arch.depth)
    x = torch.randn(1, *parts[0].input_shape)
    with torch.no_grad():
        for part in parts:  # every part accepts what the previous one produced
            assert tuple(x.shape[1:]) == part.input_shape, part.key
            x = part.build()(x)
    assert x.shape == (1, space.num_classes)
    assert Subnet(arch).input_shape == parts[0].input_shape


def test_table_parts_cover_every_arch_and_keys_round_trip():
    space = get_space("ofa_mbv3_cifar")
    table = set(lookup_table_parts(space.name))
    for arch in space.sample_many(30, 0):
        assert set(arch_parts(arch)) <= table
    assert len(table) == len(lookup_table_parts(space.name))  # no duplicates
    for part in table:
        assert Part.from_key(space.name, part.key) == part
    one = lookup_table_parts(space.name, [32])
    stages, kernels, expands = len(space.stages), len(space.kernel_choices), len(space.expand_choices)
    assert len(one) == 3 + stages * 2 * kernels * expands
    with pytest.raises(NasedgeError, match="resolution 30 is not in space"):
        lookup_table_parts(space.name, [30])


def test_artifacts_build_once_and_workloads_pickle_without_them():
    import pickle

    arch = get_space("ofa_mbv3_cifar").min_arch()
    cache = Artifacts()
    w = Subnet(arch)
    assert cache.model(w) is cache.model(Subnet(arch))  # keyed by value
    onnx = cache.onnx(w, batch=1)
    assert onnx[:2] and cache.onnx(w, 1) is onnx
    assert pickle.loads(pickle.dumps(w)) == w
    part = Part("ofa_mbv3_cifar", "block", 16, 1, True, 5, 4)
    assert cache.onnx(part, 2) != cache.onnx(Part("ofa_mbv3_cifar", "block", 16, 1, True, 5, 6), 2)
    with pytest.raises(NasedgeError, match="part kind 'tail'"):
        Part("ofa_mbv3_cifar", "tail", 8)


def test_parts_are_the_layers_of_the_space_walk():
    space = get_space("ofa_mbv3_cifar")
    arch = space.sample(0)
    parts = arch_parts(arch)
    assert [p.key for p in parts] == [
        "stem:in32", "first_block:in32", "block:s0:first:k7:e3:in32", "block:s0:rest:k5:e6:in32",
        "block:s0:rest:k5:e6:in32", "block:s1:first:k3:e4:in32", "block:s1:rest:k3:e6:in16",
        "block:s2:first:k3:e6:in16", "block:s2:rest:k7:e6:in8", "block:s3:first:k5:e3:in8",
        "block:s3:rest:k5:e6:in8", "block:s4:first:k5:e3:in8", "block:s4:rest:k5:e3:in4", "head:in4"]
    layers = space.layers(arch)
    assert [p.key for p in parts] == [x.key for x in layers]
    for part, layer in zip(parts, layers):
        assert part == Part.of(space.name, layer)
        assert part.input_shape == (layer.in_channels, layer.input_size, layer.input_size)
        assert (part.layer.in_channels, part.layer.out_channels, part.layer.hidden) == \
            (layer.in_channels, layer.out_channels, layer.hidden)
    assert parts[0] == Part(space.name, "stem", 32) and parts[3] == Part(space.name, "block", 32, 0, False, 5, 6)
