"""Conformance suite: every registered search space must pass all of these."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nasedge.arch import Arch
from nasedge.cost import arch_cost
from nasedge.errors import ArchError, NasedgeError
from nasedge.export.onnx import check_onnx, export_onnx
from nasedge.spaces import get_space, list_spaces

SPACES = list_spaces()


def test_registry_lists_the_shipped_spaces():
    assert {"ofa_mbv3_w1.0", "ofa_mbv3_w1.2", "ofa_mbv3_cifar"} <= set(SPACES)


@pytest.fixture(params=SPACES)
def space(request):
    return get_space(request.param)


def test_name_and_extremes_validate(space):
    assert space.validate(space.min_arch()) == space.min_arch()
    assert space.validate(space.max_arch()) == space.max_arch()
    assert arch_cost(space.min_arch(), space).macs < arch_cost(space.max_arch(), space).macs


def test_sampling_is_seeded_and_valid(space):
    a, b = space.sample_many(20, 7), space.sample_many(20, 7)
    assert a == b and len(set(a)) == 20
    assert space.sample_many(20, 8) != a
    for arch in a:
        assert space.validate(arch) == arch


@pytest.mark.parametrize("call, message", [
    (lambda s: s.sample(-1), "seed: value -1 is not valid"), (lambda s: s.sample("x"), "seed: value 'x' is not valid"),
    (lambda s: s.sample_many(-1), "n: value -1 is not valid"), (lambda s: s.sample_many("3"), "n: value '3'"),
    (lambda s: s.mutate(s.min_arch(), 0, prob=-1), "prob: value -1 is not valid"),
    (lambda s: s.mutate(s.min_arch(), 0, prob=float("nan")), "prob: value nan is not valid"),
])
def test_bad_sampling_arguments_are_named(space, call, message):
    """They reached numpy (a ValueError about a SeedSequence), or were taken silently (prob=-1, n=-1)."""
    with pytest.raises(NasedgeError, match=message):
        call(space)


def test_what_numpy_takes_as_a_seed_or_number_is_taken(space):
    from fractions import Fraction

    assert space.sample([1, 2]) == space.sample([1, 2]) and space.sample(np.random.PCG64(1)) == space.sample(
        np.random.PCG64(1))
    assert space.sample(np.int64(3)) == space.sample(3) and len(space.sample_many(np.int64(2), 0)) == 2
    assert space.mutate(space.min_arch(), 0, prob=np.float32(0.5)) == space.mutate(space.min_arch(), 0, prob=0.5)
    space.mutate(space.min_arch(), 0, prob=Fraction(1, 5))


def test_mutation_and_crossover_stay_in_space(space):
    rng = np.random.default_rng(0)
    parents = space.sample_many(10, rng)
    for p, q in zip(parents, parents[1:]):
        assert space.validate(space.mutate(p, rng, prob=0.5))
        child = space.crossover(p, q, rng)
        assert space.validate(child)
        # every gene of the child comes from one of the parents
        assert all(d in (x, y) for d, x, y in zip(child.depth, p.depth, q.depth))
        assert child.resolution in (p.resolution, q.resolution)
        assert space.crossover(p, p, rng) == p
        assert space.mutate(p, rng, prob=0.0) == p
    changed = sum(space.mutate(p, rng, prob=0.3) != p for p in parents)
    assert changed >= 8


def _with_depth(arch: Arch, stage: int, depth: int, kernel=None, expand=None) -> Arch:
    return Arch(arch.space, kernel or arch.kernel, expand or arch.expand,
                (*arch.depth[:stage], depth, *arch.depth[stage + 1:]), arch.resolution)


def _accepted_depths(space, stage: int) -> tuple[int, ...]:
    accepted = []
    for depth in range(1, space.max_depth + 1):
        try:
            space.validate(_with_depth(space.max_arch(), stage, depth))
            accepted.append(depth)
        except ArchError:
            pass
    return tuple(accepted)


def _stage_configurations(space, stage: int, depths: tuple[int, ...]) -> int:
    """Distinct canonical configurations of one stage: every raw assignment of its slots (unused slots
    included) at each of ``depths``, the other stages as in the largest arch."""
    base, m = space.max_arch(), space.max_depth
    lo, hi = stage * m, (stage + 1) * m
    distinct = set()
    choices = list(itertools.product(space.kernel_choices, space.expand_choices))
    for depth in depths:
        for slots in itertools.product(choices, repeat=m):
            kernel = [*base.kernel[:lo], *(k for k, _ in slots), *base.kernel[hi:]]
            expand = [*base.expand[:lo], *(e for _, e in slots), *base.expand[hi:]]
            distinct.add(_with_depth(base, stage, depth, kernel, expand))
    return len(distinct)


def test_num_archs_matches_enumeration(space):
    # Stages are independent, so count the distinct canonical configurations of each stage by enumerating
    # every raw assignment of its slots (unused slots included), then multiply. Stages that accept the same
    # depths have as many configurations: enumerated once (a stage of fixed depth, as ProxylessNAS's last, not).
    counts: dict[tuple[int, ...], int] = {}
    total = 1
    for stage in range(space.num_stages):
        depths = _accepted_depths(space, stage)
        if depths not in counts:
            counts[depths] = _stage_configurations(space, stage, depths)
        total *= counts[depths]
    assert total * len(space.resolutions) == space.num_archs()


def test_validation_names_field_value_and_choices(space):
    arch = space.max_arch()
    kernel = list(arch.kernel)
    kernel[0] = 9
    with pytest.raises(ArchError) as e:
        space.validate(Arch(space.name, kernel, arch.expand, arch.depth, arch.resolution))
    assert e.value.field == "kernel[0]" and e.value.value == 9 and list(space.kernel_choices) == e.value.allowed
    with pytest.raises(ArchError, match="'resolution'"):
        space.validate(Arch(space.name, arch.kernel, arch.expand, arch.depth, space.resolutions[-1] + 1))
    with pytest.raises(ArchError, match="'space'"):
        space.validate(Arch("nope", arch.kernel, arch.expand, arch.depth, arch.resolution))
    depth = list(arch.depth)
    depth[1] = space.max_depth + 1
    with pytest.raises(ArchError, match=r"'depth\[1\]'"):
        space.validate(Arch(space.name, arch.kernel, arch.expand, depth, arch.resolution))


def test_encodings(space):
    archs = space.sample_many(16, 0)
    for scheme in ("onehot", "ordinal"):
        x = space.encode(archs, scheme)
        assert x.shape[0] == 16 and x.dtype == np.float32
        assert len({row.tobytes() for row in x}) == 16  # distinct archs, distinct features
    # unused slots do not leak into features
    a = space.min_arch()
    kernel = [k or space.kernel_choices[-1] for k in a.kernel]
    expand = [e or space.expand_choices[-1] for e in a.expand]
    filled = Arch(a.space, kernel, expand, a.depth, a.resolution)
    assert filled.kernel != a.kernel
    assert np.array_equal(space.encode([a]), space.encode([filled]))


@pytest.mark.parametrize("seed", range(3))
def test_extracted_subnet_matches_supernet(space, seed, scrambled_supernet):
    supernet = scrambled_supernet(space.name)
    arch = space.sample(seed) if seed else space.max_arch()
    x = torch.randn(2, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(seed))
    supernet.set_active(arch)
    with torch.no_grad():
        expected = supernet(x)
        subnet = supernet.extract(arch)
        got = subnet(x)
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()
    assert sum(p.numel() for p in subnet.parameters()) == arch_cost(arch, space).params
    assert "Elastic" not in repr(subnet)


def test_analytic_macs_match_flop_counter(space):
    from nasedge.nn.mobilenetv3 import build_mobilenetv3

    for arch in (space.min_arch(), space.sample(1)):
        model = build_mobilenetv3(arch, space).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.randn(1, 3, arch.resolution, arch.resolution))
        assert arch_cost(arch, space).macs == counter.get_total_flops() // 2


def test_onnx_export_matches_torch(space, tmp_path, scrambled_supernet):
    arch = space.sample(5)
    model = scrambled_supernet(space.name).extract(arch)
    path = export_onnx(model, arch, tmp_path / "m.onnx")
    assert check_onnx(path, model, arch, batch_size=3) <= 1e-4


@pytest.mark.parametrize("choices, message", [
    ({"kernal": [3]}, "cannot restrict 'kernal'"), ({"kernel": 3}, "kernel choices 3 are not valid"),
    ({"kernel": [9]}, r"kernel choices \[9\] are not a non-empty subset"),
])
def test_restrict_names_a_bad_choice(choices, message):
    """KeyError, ValueError and TypeError before; progressive shrinking's phases name the phase around it."""
    with pytest.raises(NasedgeError, match=message):
        get_space("ofa_mbv3_tiny").restrict(**choices)
    with pytest.raises(NasedgeError, match="unknown encoding 'zzz'"):
        get_space("ofa_mbv3_tiny").encode([get_space("ofa_mbv3_tiny").min_arch()], scheme="zzz")
