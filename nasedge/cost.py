"""Analytic cost of an arch, computed from the space's dimensions without building a network.

``params``: trainable parameters of the static subnet (conv and linear weights, biases, BN affine).
``macs``: multiply-accumulates of its convolutions and linear layers for one image at the arch's
resolution (element-wise ops, pooling and BN are not counted, the usual convention).
Per-block figures are returned too, for latency features and lookup tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasedge.arch import Arch
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    # one entry per part, in network order: "stem", "first_block", "block<slot>", "head"
    parts: tuple[tuple[str, int, int], ...]  # (name, params, macs)

    @property
    def mmacs(self) -> float:
        return self.macs / 1e6


def _out(size: int, stride: int) -> int:
    # odd kernel, padding k // 2
    return (size - 1) // stride + 1


def _conv(cin: int, cout: int, k: int, hw_out: int, groups: int = 1, bias: bool = False) -> tuple[int, int]:
    weights = cout * (cin // groups) * k * k
    return weights + (cout if bias else 0), weights * hw_out * hw_out


def _bn(c: int) -> int:
    return 2 * c


def _mbconv(cin: int, cout: int, hidden: int | None, k: int, stride: int, se: int, size: int) -> tuple[int, int, int]:
    """(params, macs, output size) of one inverted-bottleneck block at input size ``size``."""
    params = macs = 0
    if hidden is not None:
        p, m = _conv(cin, hidden, 1, size)
        params, macs = params + p + _bn(hidden), macs + m
    hidden = hidden or cin
    out = _out(size, stride)
    p, m = _conv(hidden, hidden, k, out, groups=hidden)
    params, macs = params + p + _bn(hidden), macs + m
    if se:
        p1, m1 = _conv(hidden, se, 1, 1, bias=True)
        p2, m2 = _conv(se, hidden, 1, 1, bias=True)
        params, macs = params + p1 + p2, macs + m1 + m2
    p, m = _conv(hidden, cout, 1, out)
    return params + p + _bn(cout), macs + m, out


def arch_cost(arch: Arch, space: OFAMobileNetV3Space, num_classes: int | None = None) -> Cost:
    """Parameters and MACs of ``arch`` (validated against ``space``)."""
    arch = space.validate(arch)
    parts: list[tuple[str, int, int]] = []
    size = _out(arch.resolution, space.stem_stride)
    p, m = _conv(3, space.stem_width, 3, size)
    parts.append(("stem", p + _bn(space.stem_width), m))
    p, m, size = _mbconv(space.stem_width, space.first_block_width, None, 3, space.first_block_stride, 0, size)
    parts.append(("first_block", p, m))
    slots = space.slots()
    for b in arch.active_blocks():
        s = slots[b.slot]
        hidden = space.hidden_channels(s.in_channels, b.expand)
        se = space.se_channels(hidden) if s.se else 0
        p, m, size = _mbconv(s.in_channels, s.out_channels, hidden, b.kernel, s.stride, se, size)
        parts.append((f"block{b.slot}", p, m))
    fe, mix, nc = space.final_expand_width, space.feature_mix_width, num_classes or space.num_classes
    p1, m1 = _conv(space.stages[-1].width, fe, 1, size)
    p2, m2 = _conv(fe, mix, 1, 1)
    parts.append(("head", p1 + _bn(fe) + p2 + mix * nc + nc, m1 + m2 + mix * nc))
    return Cost(sum(p for _, p, _ in parts), sum(m for _, _, m in parts), tuple(parts))
