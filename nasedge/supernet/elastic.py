"""Elastic operations of the OFA supernet: one weight tensor per op at its largest size.

Every op reads the active size from its input (channels) or from an argument (kernel size, expand
ratio), so no module keeps "active" flags. Each elastic op can also export itself as the plain
PyTorch module of :mod:`nasedge.nn.mobilenetv3` with the weights the active forward uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasedge.nn.mobilenetv3 import MBConv, activation
from nasedge.spaces.ofa_mbv3 import BlockSlot, OFAMobileNetV3Space


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the first ``C`` channels, ``C`` taken from the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        factor = 0.0
        if self.training:
            self.num_batches_tracked.add_(1)
            # momentum None: cumulative average (used by BatchNorm recalibration)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # Slices are views: batch_norm updates the running statistics of the first c channels in place.
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            self.training, factor, self.eps)

    @torch.no_grad()
    def export(self, channels: int) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(channels, eps=self.eps, momentum=self.momentum)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).copy_(getattr(self, name)[:channels])
        bn.num_batches_tracked.copy_(self.num_batches_tracked)
        return bn

    @torch.no_grad()
    def permute_(self, order: torch.Tensor) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            t = getattr(self, name)
            t.copy_(t[order])


class ElasticDepthwiseConv2d(nn.Module):
    """Depthwise conv with elastic kernel size and channel count.

    The weight is stored at the largest kernel. A smaller kernel is the centre of the next larger
    one multiplied by a learned ``k^2 x k^2`` transformation matrix shared by all channels (7 -> 5
    -> 3, OFA's kernel transformation), so small kernels need not equal the centre of large ones.
    """

    def __init__(self, max_channels: int, kernel_sizes: tuple[int, ...], stride: int):
        super().__init__()
        self.kernel_sizes, self.stride = tuple(sorted(kernel_sizes)), stride
        kmax = self.kernel_sizes[-1]
        self.weight = nn.Parameter(torch.empty(max_channels, 1, kmax, kmax))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        # matrices named "<src>to<dst>", initialised to identity (small kernel = centre crop at first)
        self.transforms = nn.ParameterDict({
            f"{src}to{dst}": nn.Parameter(torch.eye(dst * dst))
            for dst, src in zip(self.kernel_sizes[:-1], self.kernel_sizes[1:])
        })

    def kernel(self, size: int, channels: int) -> torch.Tensor:
        """The ``(channels, 1, size, size)`` kernel the active forward uses."""
        if size not in self.kernel_sizes:
            raise ValueError(f"kernel size {size} not in {self.kernel_sizes}")
        w = self.weight[:channels]
        for dst, src in reversed(list(zip(self.kernel_sizes[:-1], self.kernel_sizes[1:]))):
            if src <= size:
                break
            start = (src - dst) // 2
            centre = w[:, :, start:start + dst, start:start + dst].reshape(channels, dst * dst)
            w = F.linear(centre, self.transforms[f"{src}to{dst}"]).reshape(channels, 1, dst, dst)
        return w

    def forward(self, x: torch.Tensor, size: int) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(x, self.kernel(size, c), None, self.stride, size // 2, 1, c)


class ElasticSqueezeExcite(nn.Module):
    """Squeeze-excite whose width follows its input: ``se_channels(C)`` reduced channels for ``C`` inputs."""

    def __init__(self, max_channels: int):
        super().__init__()
        reduced = OFAMobileNetV3Space.se_channels(max_channels)
        self.reduce = nn.Conv2d(max_channels, reduced, 1, bias=True)
        self.expand = nn.Conv2d(reduced, max_channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        r = OFAMobileNetV3Space.se_channels(c)
        s = x.mean((2, 3), keepdim=True)
        s = torch.relu(F.conv2d(s, self.reduce.weight[:r, :c], self.reduce.bias[:r]))
        s = F.conv2d(s, self.expand.weight[:c, :r], self.expand.bias[:c])
        return x * F.hardsigmoid(s)


class ElasticMBConv(nn.Module):
    """Inverted-bottleneck block with elastic kernel size and expand ratio (hidden width).

    Hidden channels are used in order, so :meth:`sort_channels` puts the most important first
    before the expand ratio becomes elastic.
    """

    def __init__(self, slot: BlockSlot, space: OFAMobileNetV3Space):
        super().__init__()
        self.slot, self.space = slot, space
        max_hidden = space.hidden_channels(slot.in_channels, max(space.expand_choices))
        self.expand_conv = nn.Conv2d(slot.in_channels, max_hidden, 1, bias=False)
        self.expand_bn = ElasticBatchNorm2d(max_hidden)
        self.depthwise = ElasticDepthwiseConv2d(max_hidden, space.kernel_choices, slot.stride)
        self.depthwise_bn = ElasticBatchNorm2d(max_hidden)
        self.se = ElasticSqueezeExcite(max_hidden) if slot.se else None
        self.project_conv = nn.Conv2d(max_hidden, slot.out_channels, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(slot.out_channels)
        self.act = activation(slot.act)

    def forward(self, x: torch.Tensor, kernel: int, expand: int) -> torch.Tensor:
        hidden = self.space.hidden_channels(self.slot.in_channels, expand)
        y = self.act(self.expand_bn(F.conv2d(x, self.expand_conv.weight[:hidden])))
        y = self.act(self.depthwise_bn(self.depthwise(y, kernel)))
        if self.se is not None:
            y = self.se(y)
        y = self.project_bn(F.conv2d(y, self.project_conv.weight[:, :hidden]))
        return x + y if self.slot.residual else y

    @torch.no_grad()
    def export(self, kernel: int, expand: int) -> MBConv:
        """The static block that computes what ``forward(x, kernel, expand)`` computes."""
        s = self.slot
        hidden = self.space.hidden_channels(s.in_channels, expand)
        reduced = self.space.se_channels(hidden) if s.se else 0
        block = MBConv(s.in_channels, s.out_channels, hidden, kernel, s.stride, s.act, reduced)
        block.expand[0].weight.copy_(self.expand_conv.weight[:hidden])
        block.expand[1] = self.expand_bn.export(hidden)
        block.depthwise[0].weight.copy_(self.depthwise.kernel(kernel, hidden))
        block.depthwise[1] = self.depthwise_bn.export(hidden)
        if self.se is not None:
            block.se.reduce.weight.copy_(self.se.reduce.weight[:reduced, :hidden])
            block.se.reduce.bias.copy_(self.se.reduce.bias[:reduced])
            block.se.expand.weight.copy_(self.se.expand.weight[:hidden, :reduced])
            block.se.expand.bias.copy_(self.se.expand.bias[:hidden])
        block.project[0].weight.copy_(self.project_conv.weight[:, :hidden])
        block.project[1].load_state_dict(self.project_bn.state_dict())
        return block

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder hidden channels by importance (L1 norm of their projection weights), largest first.

        A permutation of hidden channels leaves the full-width block's function unchanged; it makes
        the narrower subnets (which use the first channels) keep the most important ones.
        """
        order = torch.argsort(self.project_conv.weight.abs().sum(dim=(0, 2, 3)), descending=True)
        self.project_conv.weight.copy_(self.project_conv.weight[:, order])
        if self.se is not None:
            se = self.se
            se.expand.weight.copy_(se.expand.weight[order])
            se.expand.bias.copy_(se.expand.bias[order])
            se.reduce.weight.copy_(se.reduce.weight[:, order])
            se_order = torch.argsort(se.expand.weight.abs().sum(dim=(0, 2, 3)), descending=True)
            se.expand.weight.copy_(se.expand.weight[:, se_order])
            se.reduce.weight.copy_(se.reduce.weight[se_order])
            se.reduce.bias.copy_(se.reduce.bias[se_order])
        self.depthwise.weight.copy_(self.depthwise.weight[order])
        self.depthwise_bn.permute_(order)
        self.expand_conv.weight.copy_(self.expand_conv.weight[order])
        self.expand_bn.permute_(order)
