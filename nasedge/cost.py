"""Analytic cost of an arch, computed from its space's layer walk without building a network.

``params``: trainable parameters of the static subnet (conv and linear weights, biases, BN affine).
``macs``: multiply-accumulates of its convolutions and linear layers for one image at the arch's
resolution (element-wise ops, pooling and BN are not counted, the usual convention).
Per-part figures are returned too, and :func:`layer_cost` breaks one part down further (MACs by kind
of op, activation elements written, number of layers) for latency features.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from nasedge.arch import Arch
from nasedge.spaces.base import Layer, SearchSpace


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    # one entry per part, in network order: "stem", "first_block", "block<slot>", "head"
    parts: tuple[tuple[str, int, int], ...]  # (name, params, macs)

    @property
    def mmacs(self) -> float:
        return self.macs / 1e6


@dataclass(frozen=True)
class LayerCost:
    """The work of one :class:`~nasedge.spaces.base.Layer` for one image.

    ``macs`` is the total; ``pointwise_macs`` (a block's 1x1 expand and project convs), ``depthwise_macs``
    and ``se_macs`` are the shares of a block's ops (zero for a stem and a head). ``activations``: elements
    of the feature maps its convs write (memory traffic); ``ops``: its conv and linear layers (launches).
    """

    params: int
    macs: int
    pointwise_macs: int = 0
    depthwise_macs: int = 0
    se_macs: int = 0
    activations: int = 0
    ops: int = 0


def _conv(cin: int, cout: int, k: int, hw_out: int, groups: int = 1, bias: bool = False) -> tuple[int, int]:
    weights = cout * (cin // groups) * k * k
    return weights + (cout if bias else 0), weights * hw_out * hw_out


def _bn(c: int) -> int:
    return 2 * c


@functools.lru_cache(maxsize=1 << 16)  # a pure function of a frozen layer; arch_cost asks for the same ones again
def layer_cost(layer: Layer) -> LayerCost:
    """Parameters, MACs, activation elements and layer count of one part (see :class:`Layer` for its ops)."""
    size, out = layer.input_size, layer.output_size
    if layer.kind == "stem":
        params, macs = _conv(layer.in_channels, layer.out_channels, layer.kernel, out)
        return LayerCost(params + _bn(layer.out_channels), macs, activations=layer.out_channels * out * out, ops=1)
    if layer.kind == "head":
        fe, nc = layer.hidden, layer.out_channels
        params, macs = _conv(layer.in_channels, fe, 1, size)
        params, features = params + _bn(fe), fe
        if layer.mix:  # 1x1 conv after pooling (no BN)
            p, m = _conv(fe, layer.mix, 1, 1)
            params, macs, features = params + p, macs + m, layer.mix
        return LayerCost(params + features * nc + nc, macs + features * nc, activations=fe * size * size,
                         ops=2 + bool(layer.mix))
    # inverted bottleneck
    cin, cout, hidden, se = layer.in_channels, layer.out_channels, layer.hidden, layer.se
    params = pw = acts = ops = 0
    if hidden is not None:
        p, m = _conv(cin, hidden, 1, size)
        params, pw, acts, ops = p + _bn(hidden), m, hidden * size * size, 1
    hidden = hidden or cin
    p, dw = _conv(hidden, hidden, layer.kernel, out, groups=hidden)
    params, acts, ops = params + p + _bn(hidden), acts + hidden * out * out, ops + 1
    se_macs = 0
    if se:
        p1, m1 = _conv(hidden, se, 1, 1, bias=True)
        p2, m2 = _conv(se, hidden, 1, 1, bias=True)
        params, se_macs = params + p1 + p2, m1 + m2
        acts, ops = acts + hidden * out * out, ops + 2  # the excitation rescales the whole hidden map
    p, m = _conv(hidden, cout, 1, out)
    params, pw, acts, ops = params + p + _bn(cout), pw + m, acts + cout * out * out, ops + 1
    return LayerCost(params, pw + dw + se_macs, pw, dw, se_macs, acts, ops)


def part_name(layer: Layer) -> str:
    """The name of a part in :attr:`Cost.parts`: its kind, ``block<slot>`` for blocks."""
    return f"block{layer.slot}" if layer.kind == "block" else layer.kind


def arch_cost(arch: Arch, space: SearchSpace, num_classes: int | None = None) -> Cost:
    """Parameters and MACs of ``arch`` (validated against ``space``)."""
    layers = space.layers(arch)
    if num_classes:
        layers = (*layers[:-1], dataclasses.replace(layers[-1], out_channels=num_classes))
    parts = []
    for layer in layers:
        c = layer_cost(layer)
        parts.append((part_name(layer), c.params, c.macs))
    return Cost(sum(p for _, p, _ in parts), sum(m for _, _, m in parts), tuple(parts))
