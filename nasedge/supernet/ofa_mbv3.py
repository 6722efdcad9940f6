"""The once-for-all MobileNetV3 supernet: every arch of an OFA-MobileNetV3 space shares its weights.

    supernet = OFAMobileNetV3Supernet(space)
    supernet.set_active(arch)      # validated; the next forward runs this subnet
    logits = supernet(images)      # images already at arch.resolution
    model = supernet.extract(arch) # a static nn.Module with the same outputs, no elastic code

Elastic depth uses the first ``d`` blocks of each stage; kernel size, expand ratio and width are
handled by the elastic ops in :mod:`nasedge.supernet.elastic`. The fixed parts (stem, first block, head) are
built from the space's layer walk, so the same supernet serves the OFA-ProxylessNAS family
(:mod:`nasedge.spaces.ofa_proxyless`: ReLU6, no squeeze-excite, its own head, a last stage of fixed depth).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.nn import mobilenetv3 as static
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space
from nasedge.supernet.elastic import ElasticMBConv


class OFAMobileNetV3Supernet(nn.Module):
    """Weight-sharing supernet of ``space``; the active arch starts as the space's largest."""

    def __init__(self, space: OFAMobileNetV3Space, num_classes: int | None = None):
        super().__init__()
        self.space = space
        self.num_classes = num_classes or space.num_classes
        self.stem = static.stem(space)
        self.first_block = static.first_block(space)
        slots = space.slots()
        self.blocks = nn.ModuleList(ElasticMBConv(slot, space) for slot in slots)
        self._index = {slot.slot: i for i, slot in enumerate(slots)}  # arch slot -> its block (no gaps in blocks)
        self.head = static.head(space, self.num_classes)
        static.init_weights(self)
        static.set_bn_eps(self, space.bn_eps)
        self._active = space.max_arch()

    @property
    def active_arch(self) -> Arch:
        return self._active

    def set_active(self, arch: Arch) -> Arch:
        """Make ``arch`` the subnet that :meth:`forward` runs; returns its canonical form."""
        self._active = self.space.validate(arch)
        return self._active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for b in self._active.active_blocks():
            x = self.blocks[self._index[b.slot]](x, b.kernel, b.expand)
        return self.head(x)

    @torch.no_grad()
    def extract(self, arch: Arch | None = None) -> static.MobileNetV3:
        """A static copy of ``arch`` (default: the active arch) carrying transformed kernels and sliced weights.

        The result lives on the CPU in float32, in eval mode, independent of the supernet.
        """
        arch = self.space.validate(arch) if arch is not None else self._active
        blocks = [self.blocks[self._index[b.slot]].export(b.kernel, b.expand) for b in arch.active_blocks()]
        model = static.MobileNetV3(copy.deepcopy(self.stem), copy.deepcopy(self.first_block), blocks,
                                   copy.deepcopy(self.head), arch)
        return static.set_bn_eps(model, self.space.bn_eps).float().cpu().eval()

    def sort_channels(self) -> None:
        """Reorder every block's hidden channels by importance (done when expand ratios become elastic)."""
        for block in self.blocks:
            block.sort_channels()
