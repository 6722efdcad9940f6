"""BatchNorm recalibration: the running statistics a subnet needs before it is evaluated.

Subnets share BN layers in the supernet, so the stored running statistics belong to no subnet in
particular. Recalibration resets them and re-estimates them as the average over a fixed set of
training images, with everything else in eval mode (no dropout, no weight change).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor], num_images: int | None = None) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them from ``batches`` of images.

    ``batches`` yields image tensors already at the arch's resolution and on the model's device;
    at most ``num_images`` images are used (all when None). Returns the number of images used.
    Works on the supernet (with its active arch) and on extracted static subnets alike.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    saved_momentum = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
        bn.train()
    seen = 0
    try:
        for images in batches:
            if num_images is not None and seen >= num_images:
                break
            if num_images is not None:
                images = images[: num_images - seen]
            model(images)
            seen += images.shape[0]
    finally:
        for bn, m in zip(bns, saved_momentum):
            bn.momentum = m
        model.train(was_training)
    if seen == 0:
        raise ValueError("BatchNorm recalibration got no images")
    return seen
