"""Loading the configured dataset: its splits, the images that recalibrate BatchNorm, each rank's rows."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Optional

import torch

from nasedge.data.augment import cutout, random_crop_flip, random_resized_crop_flip
from nasedge.data.config import DataConfig
from nasedge.data.image_dataset import ImageDataset, subset_rows
from nasedge.errors import NasedgeError


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
    check_num_classes(cfg, len(train.classes))
    return train, test


def check_num_classes(cfg: DataConfig, found: int) -> None:
    """``data.num_classes``, where set, is the number of classes ``found`` in ``data.path``."""
    if cfg.num_classes is not None and cfg.num_classes != found:
        raise NasedgeError(f"data.num_classes: value {cfg.num_classes} does not match the {found} classes in {cfg.path}")


def data_identity(cfg: DataConfig, train: ImageDataset, test: ImageDataset) -> dict:
    """What the loaded data is, whatever path names it (each host's mount, a moved file, a relative path) and however
    it was decoded: each split's size, a digest of the classes and labels, and one of a sample of the encoded files
    (:func:`~nasedge.data.image_dataset.encoded_digest`; None where a split was not read from files). The ranks of a
    run compare theirs, and a resumed run its own with its checkpoint's (:func:`data_difference`)."""
    import hashlib

    labels, encoded = hashlib.sha256(), hashlib.sha256()
    for split in (train, test):
        labels.update(f"{len(split)}|{','.join(split.classes)}|".encode())
        labels.update(split.labels.cpu().numpy().tobytes())
        encoded.update(f"{split.encoded}|".encode())
    known = train.encoded is not None and test.encoded is not None
    return {"train_images": len(train), "test_images": len(test), "labels": labels.hexdigest()[:16],
            "encoded": encoded.hexdigest()[:16] if known else None}


def data_difference(ours: dict, theirs: dict) -> str:
    """How the data of :func:`data_identity` ``ours`` differs from ``theirs``, in a few words ("" where it does not).

    The encoded files are compared where both identities hold their digest: checkpoints written before it was kept
    hold one of decoded pixels instead ("images"), which another decoder or library version changes without other
    data, so their sizes and labels alone are compared."""
    for key, what in (("train_images", "training images"), ("test_images", "test images")):
        if ours[key] != theirs[key]:
            return f"{ours[key]} {what} against {theirs[key]}"
    if ours["labels"] != theirs["labels"]:
        return "other classes or labels"
    if None not in (ours.get("encoded"), theirs.get("encoded")) and ours["encoded"] != theirs["encoded"]:
        return "other images"
    return ""


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
    g = torch.Generator().manual_seed(cfg.augmentation_seed())
    if cfg.train_crop == "random_resized":  # crops at the stored size; every arch resizes them to its resolution
        # in chunks: 2,000 images at 256 px are 1.5 GB as floats
        out = torch.cat([random_resized_crop_flip(chunk.cpu().float(), cfg.image_size, tuple(cfg.crop_scale), g)
                         .round().clamp(0, 255).to(torch.uint8) for chunk in images.split(256)])
        return out.to(images.device)
    out = random_crop_flip(images.cpu(), cfg.crop_padding, g)
    mean = torch.tensor([round(255 * m) for m in cfg.mean], dtype=out.dtype)
    out = cutout(out, cfg.cutout, g, fill=mean)
    return out.to(images.device)
