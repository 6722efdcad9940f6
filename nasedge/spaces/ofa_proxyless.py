"""The OFA-ProxylessNAS family of search spaces (Once-for-All's ``OFAProxylessNASNets``, Cai et al., ICLR 2020).

Once-for-All's second published supernet, ``ofa_proxyless_d234_e346_k357_w1.3``, on ProxylessNAS's stage plan.
Network layout, top to bottom: a 3x3 stride-2 stem conv (BN, ReLU6); a fixed first block (depthwise 3x3,
expand 1, ReLU6, no residual: it changes the width); elastic stages of up to ``max(depth)`` inverted-bottleneck
blocks (1x1 expand, KxK depthwise, 1x1 project, ReLU6, never squeeze-excite; residual when the shape allows),
then a last stage of one block whose kernel and expand ratio are elastic but whose depth is fixed (``depth: 1``
in the YAML: OFA clamps any depth asked of it to its one block); a 1x1 conv to ``final_expand_width`` (BN,
ReLU6; OFA's ``feature_mix_layer``); global pooling; dropout; the classifier. BatchNorm uses eps 1e-3 (OFA's
``bn_param`` of this network).

Elastic dimensions, hidden widths (``make_divisible(round(in * expand), 8)``), kernel transformation and the
arch layout (``stages x max(depth)`` slots; the fixed-depth stage's slots beyond its block stay unused) are
those of :mod:`nasedge.spaces.ofa_mbv3`, which this family extends with its own stem, first block and head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nasedge.spaces.base import Layer
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space, _out


@dataclass(frozen=True, repr=False)
class OFAProxylessSpace(OFAMobileNetV3Space):
    """An OFA-ProxylessNAS space. Build it from YAML with :meth:`from_yaml_dict`."""

    bn_eps: float = 1e-3
    family: str = "ofa_proxyless"

    STEM_ACT: ClassVar[str] = "relu6"
    ACTIVATIONS: ClassVar[tuple[str, ...]] = ("relu6",)
    HAS_SE: ClassVar[bool] = False
    HAS_FEATURE_MIX: ClassVar[bool] = False
    BN_EPS: ClassVar[float] = 1e-3

    # --- geometry: the parts this family has of its own ----------------------------------
    def _first_block(self, size: int) -> Layer:
        # depthwise 3x3 with expand ratio 1 (no expand conv), ReLU6; residual only if it kept the width (OFA: none)
        return Layer("first_block", size, _out(size, self.first_block_stride), self.stem_width,
                     self.first_block_width, 3, self.first_block_stride, "relu6")

    def _head(self, size: int) -> Layer:
        # 1x1 conv (BN, ReLU6) before pooling, then the classifier: no feature-mix conv after pooling
        return Layer("head", size, 1, self.stages[-1].width, self.num_classes, 1, 1, "relu6",
                     self.final_expand_width)
