"""Image classification datasets, decoded once into memory as uint8 tensors.

A registry maps a dataset ``kind`` (``packed_npz``, ``image_folder``) to a loader; the ``data``
config group in ``conf/data/`` selects one. Nothing is ever downloaded: paths point at files the
user has. Augmentation runs on whole batches on the training device (:mod:`nasedge.data.augment`),
so that on a GPU the loader is never the bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from nasedge.errors import NasedgeError


@dataclass
class DataConfig:
    kind: str = "packed_npz"
    # file (packed_npz) or directory with train/ and test/ (image_folder); relative to the working directory
    path: str = "???"
    image_size: int = 32            # images are stored (and resized on load, image_folder) at this size
    mean: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
    std: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
    # BatchNorm recalibration: a fixed subset of the training split (seeded permutation; null: the
    # first images in stored order), forwarded in batches of a fixed size so that every run, on any
    # device, averages the same per-batch statistics
    recalibration_images: int = 2000
    recalibration_seed: Optional[int] = 0
    recalibration_batch_size: int = 500
    # use only N images of a split (smoke runs): a fixed random subset, since files are stored by class
    limit_train: Optional[int] = None
    limit_test: Optional[int] = None
    limit_seed: int = 0


@dataclass
class ImageDataset:
    """A split held in memory: ``images`` uint8 ``(N, 3, H, W)``, ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> ImageDataset:
        return ImageDataset(self.images.to(device), self.labels.to(device), self.classes)

    def subset(self, n: int | None, seed: int = 0) -> ImageDataset:
        """``n`` images drawn without replacement by a seeded permutation (all of them when None)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return ImageDataset(self.images[idx], self.labels[idx], self.classes)


Loader = Callable[[DataConfig], tuple[ImageDataset, ImageDataset]]


def _loaders() -> dict[str, Loader]:
    from nasedge.data.image_folder import load_image_folder
    from nasedge.data.packed_npz import load_packed_npz

    return {"packed_npz": load_packed_npz, "image_folder": load_image_folder}


def load_dataset(cfg: DataConfig) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) splits of the configured dataset."""
    loaders = _loaders()
    if cfg.kind not in loaders:
        raise NasedgeError(f"data.kind: value {cfg.kind!r} is not valid; known: {', '.join(loaders)}")
    if cfg.path in (None, "", "???"):
        raise NasedgeError("data.path is not set; pass data.path=<file or directory>")
    if not Path(cfg.path).exists():
        raise NasedgeError(f"data.path: {cfg.path}: no such file or directory")
    train, test = loaders[cfg.kind](cfg)
    return train.subset(cfg.limit_train, cfg.limit_seed), test.subset(cfg.limit_test, cfg.limit_seed + 1)


def recalibration_subset(train: ImageDataset, cfg: DataConfig) -> torch.Tensor:
    """The fixed training images used to recalibrate BatchNorm (uint8, same for every arch)."""
    n = min(cfg.recalibration_images, len(train))
    if cfg.recalibration_seed is None:
        return train.images[:n]
    g = torch.Generator().manual_seed(cfg.recalibration_seed)
    idx = torch.randperm(len(train), generator=g)[:n].to(train.images.device)
    return train.images[idx]
