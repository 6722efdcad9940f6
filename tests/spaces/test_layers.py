"""The layer walk of a space family: geometry per part, identities and latency-table keys."""

from __future__ import annotations

import dataclasses

import pytest

from nasedge.errors import NasedgeError
from nasedge.spaces import get_space, list_spaces
from nasedge.spaces.base import Layer, parse_part_key, part_key


@pytest.mark.parametrize("name", list_spaces())
def test_walk_chains_from_stem_to_head_and_round_trips(name):
    space = get_space(name)
    for arch in [space.min_arch(), space.max_arch(), *space.sample_many(10, 2)]:
        layers = space.layers(arch)
        assert [layer.kind for layer in layers] == ["stem", "first_block", *["block"] * sum(arch.depth), "head"]
        assert (layers[0].input_size, layers[0].in_channels) == (arch.resolution, 3)
        assert (layers[-1].output_size, layers[-1].out_channels) == (1, space.num_classes)
        for a, b in zip(layers, layers[1:]):  # each part takes what the previous one produces
            assert (a.output_size, a.out_channels) == (b.input_size, b.in_channels)
        blocks = [layer for layer in layers if layer.kind == "block"]
        assert [(x.slot, x.kernel, x.expand) for x in blocks] == [(b.slot, b.kernel, b.expand)
                                                                   for b in arch.active_blocks()]
        choices = space.layer_choices(arch.resolution)
        for layer in layers:
            assert any(layer in options for options in choices)
            # blocks after a stage's first share one geometry; the identity names the stage's second slot
            assert dataclasses.replace(space.layer(**layer.identity), slot=layer.slot) == layer
            assert parse_part_key(layer.key) == layer.identity


def test_layer_choices_have_one_option_per_fixed_part_and_per_choice_of_a_slot():
    space = get_space("ofa_mbv3_cifar")
    choices = space.layer_choices(28)
    assert len(choices) == 3 + space.num_slots
    assert [len(options) for options in choices] == [1, 1, *[9] * space.num_slots, 1]
    assert space.layer_choices(28) is choices  # walked once per resolution
    slot5 = choices[2 + 5]
    assert {(x.kernel, x.expand) for x in slot5} == {(k, e) for k in (3, 5, 7) for e in (3, 4, 6)}
    assert {(x.slot, x.stage, x.first, x.input_size) for x in slot5} == {(5, 1, False, 14)}


def test_geometry_of_the_published_space():
    # OFA-MobileNetV3 w1.0 at 224 px: stride-2 stem, SE in stage 1, h-swish from stage 2 on
    space = get_space("ofa_mbv3_w1.0")
    layers = space.layers(space.max_arch())
    assert layers[0] == Layer("stem", 224, 112, 3, 16, 3, 2, "h_swish")
    assert layers[1] == Layer("first_block", 112, 112, 16, 16, 3, 1, "relu")
    assert layers[6] == Layer("block", 56, 28, 24, 40, 7, 2, "relu", hidden=144, se=40, stage=1, slot=4,
                              first=True, expand=6)
    assert layers[-1] == Layer("head", 7, 1, 160, 1000, 1, 1, "h_swish", hidden=960, mix=1280)
    assert [x.key for x in layers[5:8]] == ["block:s0:rest:k7:e6:in56", "block:s1:first:k7:e6:in56",
                                            "block:s1:rest:k7:e6:in28"]


def test_part_keys():
    assert part_key("stem", 32) == "stem:in32"
    assert part_key("block", 16, 2, False, 5, 6) == "block:s2:rest:k5:e6:in16"
    for key in ("stem:in32", "head:in4", "block:s0:first:k3:e4:in32"):
        assert part_key(**parse_part_key(key)) == key
    for bad in ("tail:in8", "stem:32", "block:s0:k3:e4:in8", "block:s0:middle:k3:e4:in8", "stem:inx"):
        with pytest.raises(NasedgeError, match="part key .* is not valid"):
            parse_part_key(bad)
    with pytest.raises(NasedgeError, match="no block rest in stage 7"):
        get_space("ofa_mbv3_cifar").layer("block", 8, 7, False, 3, 3)
