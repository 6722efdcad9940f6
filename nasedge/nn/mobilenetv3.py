"""Static MobileNetV3 networks of the OFA family: plain PyTorch modules, no elastic code.

This is what :meth:`OFAMobileNetV3Supernet.extract` returns and what gets exported and measured. The modules
are built from a space's layer walk, so the OFA-ProxylessNAS family (ReLU6, no squeeze-excite, a head without
feature-mix conv) gets its networks from the same builders.
:func:`build_mobilenetv3` builds one with fresh weights from an arch (for latency measurement or for
training an arch alone from scratch).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.spaces.base import Layer, SearchSpace
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": nn.Hardswish}[name](inplace=True)


class ConvBNAct(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> optional activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = None):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> hard sigmoid -> scale."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.expand(torch.relu(self.reduce(s)))
        return x * nn.functional.hardsigmoid(s)


class MBConv(nn.Module):
    """Inverted bottleneck: [1x1 expand] -> KxK depthwise -> [SE] -> 1x1 project, residual when shapes match.

    ``hidden=None`` is expand ratio 1: no expand conv, the depthwise conv runs on the input channels.
    """

    def __init__(self, cin: int, cout: int, hidden: int | None, kernel: int, stride: int, act: str,
                 se_channels: int = 0):
        super().__init__()
        self.expand = ConvBNAct(cin, hidden, 1, act=act) if hidden is not None else None
        hidden = hidden or cin
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=act)
        self.se = SqueezeExcite(hidden, se_channels) if se_channels else None
        self.project = ConvBNAct(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class Head(nn.Module):
    """Final 1x1 expand (BN, ``act``) -> global pool -> [1x1 feature mix (``act``, no BN)] -> dropout -> classifier.

    ``feature_mix=0``: no feature-mix conv (the classifier reads the pooled expand features, as in ProxylessNAS).
    """

    def __init__(self, cin: int, final_expand: int, feature_mix: int, num_classes: int, dropout: float,
                 act: str = "h_swish"):
        super().__init__()
        self.final_expand = ConvBNAct(cin, final_expand, 1, act=act)
        self.feature_mix = nn.Conv2d(final_expand, feature_mix, 1, bias=False) if feature_mix else None
        self.feature_mix_act = activation(act) if feature_mix else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_mix or final_expand, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.final_expand(x).mean((2, 3), keepdim=True)
        if self.feature_mix is not None:
            x = self.feature_mix_act(self.feature_mix(x))
        return self.classifier(self.dropout(x.flatten(1)))


def build_layer(layer: Layer, dropout: float = 0.0) -> nn.Module:
    """The module of one part of a space's layer walk (``dropout``: the head's, before the classifier)."""
    if layer.kind == "stem":
        return ConvBNAct(layer.in_channels, layer.out_channels, layer.kernel, layer.stride, act=layer.act)
    if layer.kind == "head":
        return Head(layer.in_channels, layer.hidden, layer.mix, layer.out_channels, dropout, layer.act)
    return MBConv(layer.in_channels, layer.out_channels, layer.hidden, layer.kernel, layer.stride, layer.act,
                  layer.se)


def _fixed_layer(space: SearchSpace, kind: str) -> Layer:
    # the stem, the first block and the head are the same in every arch (only their input size varies)
    return next(layer for layer in space.layers(space.min_arch()) if layer.kind == kind)


def stem(space: SearchSpace) -> nn.Module:
    return build_layer(_fixed_layer(space, "stem"))


def first_block(space: SearchSpace) -> MBConv:
    return build_layer(_fixed_layer(space, "first_block"))


def head(space: OFAMobileNetV3Space, num_classes: int | None = None) -> Head:
    layer = _fixed_layer(space, "head")
    return build_layer(dataclasses.replace(layer, out_channels=num_classes or layer.out_channels), space.dropout)


class MobileNetV3(nn.Module):
    """A fixed subnet: stem, first block, the arch's blocks, head. Input: ``(N, 3, r, r)`` images."""

    def __init__(self, stem: nn.Module, first_block: nn.Module, blocks: list[nn.Module], head: Head,
                 arch: Arch | None = None):
        super().__init__()
        self.stem, self.first_block, self.blocks, self.head = stem, first_block, nn.Sequential(*blocks), head
        self.arch_json = arch.to_json() if arch is not None else ""  # travels with the module (and its pickle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first_block(self.stem(x))))


def build_mobilenetv3(arch: Arch, space: OFAMobileNetV3Space, num_classes: int | None = None) -> MobileNetV3:
    """A freshly initialised static network for ``arch``."""
    arch = space.validate(arch)
    stem_layer, first_layer, *block_layers, _ = space.layers(arch)
    blocks = [build_layer(layer) for layer in block_layers]
    model = MobileNetV3(build_layer(stem_layer), build_layer(first_layer), blocks, head(space, num_classes), arch)
    init_weights(model)
    set_bn_eps(model, space.bn_eps)
    return model


def set_bn_eps(model: nn.Module, eps: float) -> nn.Module:
    """Give every BatchNorm of ``model`` the space's epsilon (OFA's ``set_bn_param``); returns ``model``."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
    return model


def init_weights(model: nn.Module) -> None:
    """He-normal convs, unit BN, small classifier (the initialisation OFA uses)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
