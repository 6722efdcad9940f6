"""Analytic stand-ins for the accuracy and latency predictors, computed from the cost model.

They are *not* predictions of anything measured. They exist so that strategies can be tested and
compared on an objective with a realistic shape before trained predictors exist, and they are
labelled as proxies wherever they are used:

- :class:`ProxyAccuracy`, in accuracy points: saturating in per-stage capacity (parameters, with
  later stages weighted more), receptive field (kernel sizes) and input resolution.
- :class:`ProxyLatency`, in ms: MACs at a fixed throughput, depthwise MACs at a lower one (they are
  memory-bound on real devices), and a fixed cost per block (kernel launch / layer overhead).

The two disagree on purpose: parameters sit in the wide late stages, MACs in the early
high-resolution ones, and depth costs latency beyond its MACs, so the best arch under a budget
is a trade-off that a search has to find, not simply the largest arch that fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nasedge.arch import Arch
from nasedge.cost import arch_cost, layer_cost
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

STAGE_WEIGHTS = (0.5, 0.8, 1.0, 1.2, 1.5)  # capacity in later stages counts more (repeated for more stages)


class ProxyAccuracy:
    """Accuracy-like objective (about 70 to 94 points) of archs of an OFA-MobileNetV3 space."""

    def __init__(self, space: OFAMobileNetV3Space):
        self.space = space
        lo, hi = self._stage_params(space.min_arch()), self._stage_params(space.max_arch())
        self._log_lo, self._log_span = np.log(lo), np.log(hi) - np.log(lo)
        self._weights = np.resize(np.asarray(STAGE_WEIGHTS), space.num_stages)
        self._rf_max = self._receptive_field(space.max_arch())
        self._rf_min = self._receptive_field(space.min_arch())
        self._res_lo, self._res_hi = space.resolutions[0], space.resolutions[-1]

    def _stage_params(self, arch: Arch) -> np.ndarray:
        per_stage = np.zeros(self.space.num_stages)
        parts = {name: p for name, p, _ in arch_cost(arch, self.space).parts}
        for b in arch.active_blocks():
            per_stage[b.stage] += parts[f"block{b.slot}"]
        return per_stage

    def _receptive_field(self, arch: Arch) -> float:
        jump, rf = 1, 0.0  # the blocks' kernels, each scaled by the stride of everything up to it
        for layer in self.space.layers(arch)[:-1]:
            jump *= layer.stride
            if layer.kind == "block":
                rf += (layer.kernel - 1) * jump
        return rf

    def score(self, arch: Arch) -> float:
        capacity = (np.log(self._stage_params(arch)) - self._log_lo) / self._log_span
        capacity = float(np.dot(self._weights, capacity) / self._weights.sum())
        rf = (self._receptive_field(arch) - self._rf_min) / (self._rf_max - self._rf_min)
        res = (math.log(arch.resolution / self._res_lo) / math.log(self._res_hi / self._res_lo)
               if self._res_hi > self._res_lo else 0.0)
        z = 1.6 * capacity + 0.6 * (1.0 - math.exp(-2.0 * rf)) + 0.8 * res
        return 70.0 + 25.0 * (1.0 - math.exp(-z))

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.asarray([self.score(a) for a in archs], dtype=float)


class ProxyLatency:
    """Latency-like constraint in ms derived from MACs, depthwise MACs and block count."""

    def __init__(self, space: OFAMobileNetV3Space, ms_per_mmac: float = 0.04, ms_per_dw_mmac: float = 0.15,
                 ms_per_block: float = 0.05, ms_fixed: float = 0.5):
        self.space = space
        self.ms_per_mmac, self.ms_per_dw_mmac = ms_per_mmac, ms_per_dw_mmac
        self.ms_per_block, self.ms_fixed = ms_per_block, ms_fixed

    def _depthwise_macs(self, arch: Arch) -> int:
        return sum(layer_cost(layer).depthwise_macs for layer in self.space.layers(arch) if layer.kind == "block")

    def latency(self, arch: Arch) -> float:
        macs = arch_cost(arch, self.space).macs
        blocks = sum(arch.depth)
        return (self.ms_fixed + self.ms_per_mmac * macs / 1e6 + self.ms_per_dw_mmac * self._depthwise_macs(arch) / 1e6
                + self.ms_per_block * blocks)

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.asarray([self.latency(a) for a in archs], dtype=float)
