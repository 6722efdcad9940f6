"""Image classification datasets, decoded once into memory as uint8 tensors.

A registry maps a dataset ``kind`` (``packed_npz``, ``image_folder``) to a loader; the ``data``
config group in ``conf/data/`` selects one. Nothing is ever downloaded: paths point at files the
user has. Decoding happens once, on the GPU where there is one (:mod:`nasedge.data.decode`), and
augmentation runs on whole batches on the training device (:mod:`nasedge.data.augment`: CIFAR-style
padded crops or ImageNet-style random resized crops), so that on a GPU the loader is never the bottleneck.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch

from nasedge.data.augment import cutout, random_crop_flip, random_resized_crop_flip
from nasedge.data.image_dataset import ImageDataset, subset_rows
from nasedge.errors import NasedgeError


@dataclass
class DataConfig:
    kind: str = "packed_npz"
    # file (packed_npz) or directory with train/ and test/ (image_folder); relative to the working directory
    path: str = "???"
    image_size: int = 32            # images are stored (and resized on load, image_folder) at this size
    # the number of classes: null = as many as the data has (class folders, or the packed file's list);
    # set, it is checked against the data
    num_classes: Optional[int] = None
    mean: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
    std: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
    # training augmentation: random crop after zero padding, horizontal flip, and a Cutout square of this
    # side (0: none). Part of the data, not of training, because BatchNorm recalibration must see it too.
    crop_padding: int = 4
    cutout: int = 0
    # "pad": the random crop after padding above (CIFAR-style); "random_resized": ImageNet-style
    # RandomResizedCrop (area share crop_scale, aspect ratio 3/4-4/3) straight to the batch's resolution,
    # with images stored aspect-preserving (shorter side image_size, centre crop)
    train_crop: str = "pad"
    crop_scale: tuple[float, float] = (0.08, 1.0)
    # evaluation: the central eval_crop share of the stored side, resized to the arch's resolution
    # (0.875: ImageNet's resize to 256 and centre crop of 224); 1.0: the whole image
    eval_crop: float = 1.0
    # where images are decoded: cpu (worker threads), cuda (nvJPEG) or auto (cuda when available). GPU
    # and CPU JPEG decoders differ by rounding, so the CIFAR configs keep cpu for bit-identical numbers.
    decode: str = "cpu"
    max_memory_gib: float = 16.0     # limit on the decoded images held in memory (image_folder)
    # BatchNorm recalibration: a fixed subset of the training split (seeded permutation; null: the
    # first images in stored order), forwarded in batches of a fixed size so that every run, on any
    # device, averages the same per-batch statistics
    recalibration_images: int = 2000
    recalibration_seed: Optional[int] = 0
    recalibration_batch_size: int = 500
    # Recalibrate on augmented images (the training augmentation above, drawn once from
    # recalibration_seed, 0 when null): the statistics BN learned under. Clean images cost the shipped
    # supernet 4.7 points of top-1 (max subnet) to 7 (min); experiments/cifar10_ofa/README.md, run 6.
    recalibration_augment: bool = True
    # use only N images of a split (smoke runs): a fixed random subset, since files are stored by class
    limit_train: Optional[int] = None
    limit_test: Optional[int] = None
    limit_seed: int = 0

    def check(self) -> None:
        """Every setting in its range, as one line naming the key (before any image is read)."""
        def need(ok: bool, key: str, expected: str) -> None:
            if not ok:
                raise NasedgeError(f"data.{key}: value {getattr(self, key)!r} is not valid; expected {expected}")

        def positive_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v > 0

        def triple(v: Any, low: float) -> bool:
            return (isinstance(v, (tuple, list)) and len(v) == 3
                    and all(isinstance(x, (int, float)) and math.isfinite(x) and x > low for x in v))

        need(self.train_crop in ("pad", "random_resized"), "train_crop", "pad or random_resized")
        need(self.decode in ("cpu", "cuda", "auto"), "decode", "cpu, cuda or auto")
        need(isinstance(self.eval_crop, (int, float)) and 0 < self.eval_crop <= 1, "eval_crop", "a share in (0, 1]")
        need(positive_int(self.image_size), "image_size", "a positive number of pixels")
        need(self.num_classes is None or positive_int(self.num_classes), "num_classes", "a positive integer or null")
        need(triple(self.mean, -math.inf), "mean", "3 numbers, one per colour channel")
        need(triple(self.std, 0.0), "std", "3 positive numbers, one per colour channel")
        for key in ("crop_padding", "cutout", "limit_seed"):
            v = getattr(self, key)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, key, "an integer >= 0")
        scale = self.crop_scale
        need(isinstance(scale, (tuple, list)) and len(scale) == 2 and all(isinstance(x, (int, float)) for x in scale)
             and 0 < scale[0] <= scale[1] <= 1, "crop_scale", "[low, high] with 0 < low <= high <= 1")
        need(self.max_memory_gib is None or (isinstance(self.max_memory_gib, (int, float)) and self.max_memory_gib > 0),
             "max_memory_gib", "a positive number of GiB")
        for key in ("recalibration_images", "recalibration_batch_size"):
            need(positive_int(getattr(self, key)), key, "a positive integer")
        for key in ("limit_train", "limit_test"):
            need(getattr(self, key) is None or positive_int(getattr(self, key)), key, "a positive integer or null")

    def stored_fit(self) -> str:
        """How images of another size are stored at ``image_size`` (see :data:`nasedge.data.decode.FITS`)."""
        return "center_crop" if self.train_crop == "random_resized" else "stretch"


def shard_rows(global_batch: int, rank: int, world_size: int) -> slice:
    """The rows of every global batch that ``rank`` of ``world_size`` processes reads.

    Every rank draws the same order of an epoch and keeps one contiguous, equal block of each batch:
    the blocks of all ranks are disjoint and together make the batch one process would read.
    """
    if global_batch % world_size:
        raise NasedgeError(f"train.batch_size={global_batch} (the global batch) is not divisible by the "
                           f"world size {world_size}")
    per_rank = global_batch // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


# the rows of a split (its name and size) to decode, in the order to hold them; None: all, in stored order
Rows = Callable[[str, int], Optional[torch.Tensor]]
Loader = Callable[[DataConfig, Rows], tuple[ImageDataset, ImageDataset]]


def _loaders() -> dict[str, Loader]:
    from nasedge.data.image_folder import load_image_folder
    from nasedge.data.packed_npz import load_packed_npz

    return {"packed_npz": load_packed_npz, "image_folder": load_image_folder}


def _load(cfg: DataConfig, rows: Rows) -> tuple[ImageDataset, ImageDataset]:
    loaders = _loaders()
    if cfg.kind not in loaders:
        raise NasedgeError(f"data.kind: value {cfg.kind!r} is not valid; known: {', '.join(loaders)}")
    if cfg.path in (None, "", "???"):
        raise NasedgeError("data.path is not set; pass data.path=<file or directory>")
    if not Path(cfg.path).exists():
        raise NasedgeError(f"data.path: {cfg.path}: no such file or directory")
    cfg.check()
    train, test = loaders[cfg.kind](cfg, rows)
    if cfg.num_classes is not None and cfg.num_classes != len(train.classes):
        raise NasedgeError(f"data.num_classes: value {cfg.num_classes} does not match the {len(train.classes)} "
                           f"classes in {cfg.path}")
    return train, test


def _limited_rows(cfg: DataConfig, split: str, count: int) -> Optional[torch.Tensor]:
    """The rows ``data.limit_train`` / ``limit_test`` keep (a seeded random subset; None: all)."""
    if split == "train":
        return subset_rows(count, cfg.limit_train, cfg.limit_seed)
    return subset_rows(count, cfg.limit_test, cfg.limit_seed + 1)


def load_dataset(cfg: DataConfig) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) splits of the configured dataset; only the images ``data.limit_*`` keep are decoded."""
    return _load(cfg, partial(_limited_rows, cfg))


def load_evaluation_data(cfg: DataConfig, test_images: int | None = None,
                         test_seed: int = 0) -> tuple[torch.Tensor, ImageDataset]:
    """What evaluating subnets needs: the BatchNorm recalibration images and the test split, decoding nothing else.

    The same images in the same order as :func:`recalibration_subset` of :func:`load_dataset`'s training split,
    and as its test split, or ``.subset(test_images, test_seed)`` of it (0: no test image, for recalibration
    alone). Of ImageNet's training split that is 2,000 images decoded, not 1.28 million.
    """
    def rows(split: str, count: int) -> Optional[torch.Tensor]:
        kept = _limited_rows(cfg, split, count)
        if split == "test" and test_images is None:
            return kept
        kept = torch.arange(count) if kept is None else kept
        if split == "test":
            chosen = subset_rows(len(kept), test_images, test_seed)
            return kept if chosen is None else kept[chosen]
        return kept[_recalibration_rows(len(kept), cfg)]

    train, test = _load(cfg, rows)
    return _recalibration_augment(train.images, cfg), test


def dataset_classes(cfg: DataConfig) -> list[str]:
    """The class names of the configured dataset, read without decoding an image."""
    from nasedge.data.image_folder import image_folder_classes
    from nasedge.data.packed_npz import packed_npz_classes

    readers = {"packed_npz": packed_npz_classes, "image_folder": image_folder_classes}
    if cfg.kind not in readers:
        raise NasedgeError(f"data.kind: value {cfg.kind!r} is not valid; known: {', '.join(readers)}")
    if cfg.path in (None, "", "???") or not Path(cfg.path).exists():
        raise NasedgeError(f"data.path: {cfg.path}: no such file or directory")
    return readers[cfg.kind](cfg)


def _recalibration_rows(count: int, cfg: DataConfig) -> torch.Tensor:
    """The rows of a training split of ``count`` images that recalibrate BatchNorm, in the order they are used."""
    n = min(cfg.recalibration_images, count)
    if cfg.recalibration_seed is None:
        return torch.arange(n)
    return torch.randperm(count, generator=torch.Generator().manual_seed(cfg.recalibration_seed))[:n]


def recalibration_subset(train: ImageDataset, cfg: DataConfig) -> torch.Tensor:
    """The fixed training images used to recalibrate BatchNorm (uint8, same for every arch and device).

    With ``cfg.recalibration_augment`` they carry the training augmentation, drawn on the CPU so that
    every device sees the same pixels; Cutout squares hold the mean colour (what zero is after
    normalisation, to within rounding).
    """
    return _recalibration_augment(train.images[_recalibration_rows(len(train), cfg).to(train.images.device)], cfg)


def _recalibration_augment(images: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    if not cfg.recalibration_augment:
        return images
    g = torch.Generator().manual_seed(0 if cfg.recalibration_seed is None else cfg.recalibration_seed)
    if cfg.train_crop == "random_resized":  # crops at the stored size; every arch resizes them to its resolution
        # in chunks: 2,000 images at 256 px are 1.5 GB as floats
        out = torch.cat([random_resized_crop_flip(chunk.cpu().float(), cfg.image_size, tuple(cfg.crop_scale), g)
                         .round().clamp(0, 255).to(torch.uint8) for chunk in images.split(256)])
        return out.to(images.device)
    out = random_crop_flip(images.cpu(), cfg.crop_padding, g)
    mean = torch.tensor([round(255 * m) for m in cfg.mean], dtype=out.dtype)
    out = cutout(out, cfg.cutout, g, fill=mean)
    return out.to(images.device)
