"""Top-1 accuracy of a subnet: BatchNorm recalibration on a fixed training subset, then the test split.

The same protocol serves training logs, ``nasedge eval``, the accuracy-predictor dataset and the
verification of search finalists, so their numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.data import DataConfig, ImageDataset
from nasedge.data.augment import center_crop, normalize, resize
from nasedge.errors import NasedgeError
from nasedge.supernet.bn_recalibration import recalibrate_bn


def check_classes(supernet_classes: int, data_classes: int, supernet: object, data: object) -> None:
    """A supernet evaluated on data of another class count measures nothing: one line naming both."""
    if supernet_classes != data_classes:
        raise NasedgeError(f"supernet {supernet} has {supernet_classes} classes, the data {data} has {data_classes}: "
                           f"fine-tune it on the data first (nasedge train train.init_from=... creates a new head)")


def preprocess(images: torch.Tensor, data: DataConfig, resolution: int, channels_last: bool = False,
               crop: bool = True) -> torch.Tensor:
    """uint8 images -> the normalised float batch a subnet of ``resolution`` takes: the central
    ``data.eval_crop`` share (``crop``; recalibration images already cropped by augmentation skip it), resized."""
    x = normalize(center_crop(images, data.eval_crop) if crop else images, data.mean, data.std)
    x = resize(x, resolution)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _batches(images: torch.Tensor, data: DataConfig, resolution: int, batch_size: int,
             channels_last: bool, crop: bool = True) -> Iterator[torch.Tensor]:
    for start in range(0, images.shape[0], batch_size):
        yield preprocess(images[start:start + batch_size], data, resolution, channels_last, crop)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def _counted(batches: Iterator[torch.Tensor], progress: Callable[[int], None] | None) -> Iterator[torch.Tensor]:
    """``batches``, calling ``progress(images so far)`` once the consumer is done with each (it asks for the next)."""
    done = 0
    for x in batches:
        yield x
        done += x.shape[0]
        if progress is not None:
            progress(done)


@torch.no_grad()
def top1(model: nn.Module, test: ImageDataset, data: DataConfig, resolution: int, batch_size: int = 1000,
         amp: bool = False, channels_last: bool | None = None,
         progress: Callable[[int], None] | None = None) -> float:
    """Top-1 accuracy in percent of ``model`` (eval mode) on ``test``; ``progress(test images done)`` after each batch.

    ``channels_last``: feed NHWC batches (None: on CUDA only). A static subnet converted with
    ``model.to(memory_format=torch.channels_last)`` runs about 2x faster on CPU that way too.
    """
    device = next(model.parameters()).device
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    model.eval()
    correct = 0
    with _autocast(device, amp):
        for start, x in zip(range(0, len(test), batch_size),
                            _batches(test.images, data, resolution, batch_size, channels_last)):
            pred = model(x).argmax(1)
            correct += int((pred == test.labels[start:start + batch_size]).sum())
            if progress is not None:
                progress(start + x.shape[0])
    return 100.0 * correct / len(test)


@torch.no_grad()
def evaluate_arch(model: nn.Module, arch: Arch, recalibration_images: torch.Tensor, test: ImageDataset,
                  data: DataConfig, batch_size: int = 1000, amp: bool = False,
                  channels_last: bool | None = None, progress: Callable[[int, int], None] | None = None) -> float:
    """Top-1 of ``arch``: ``model`` is a supernet (its active arch is set) or a static subnet of ``arch``.

    ``progress(images done, images in all)``: recalibration images, then test images, counted together; called with 0
    first and after each batch (one arch takes minutes on a CPU: a caller shows its progress through it).
    """
    if hasattr(model, "set_active"):
        model.set_active(arch)
    device = next(model.parameters()).device
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    recal, total = recalibration_images.shape[0], recalibration_images.shape[0] + len(test)
    if progress is not None:
        progress(0, total)
    with _autocast(device, amp):
        recalibrate_subnet(model, arch, recalibration_images, data, channels_last,
                           None if progress is None else lambda done: progress(done, total))
    return top1(model, test, data, arch.resolution, batch_size, amp, channels_last,
                None if progress is None else lambda done: progress(recal + done, total))


@torch.no_grad()
def recalibrate_subnet(model: nn.Module, arch: Arch, recalibration_images: torch.Tensor, data: DataConfig,
                       channels_last: bool = False, progress: Callable[[int], None] | None = None) -> None:
    """BatchNorm statistics of ``arch`` (``model``: a supernet set to it, or its static subnet) re-estimated on
    ``recalibration_images`` by the data's protocol: a subnet carries the supernet's statistics, not its own.
    ``progress(images done)`` after each batch."""
    recalibrate_bn(model, _counted(_batches(recalibration_images, data, arch.resolution, data.recalibration_batch_size,
                                            channels_last, crop=not data.recalibration_augment), progress))
