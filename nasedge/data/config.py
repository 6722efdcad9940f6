"""The ``data`` config group's schema: which images, how they are stored, augmented and recalibrated on.

Free of torch, so that composing a configuration and checking its values stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

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

    def augmentation_seed(self) -> int:
        """The seed the recalibration images' augmentation is drawn from: ``recalibration_seed``, 0 when null (the
        subset is then the first images, in stored order, and still augmented the same way every run)."""
        return 0 if self.recalibration_seed is None else self.recalibration_seed

    def recalibration_draw(self) -> dict[str, Any]:
        """How the recalibration images are drawn, for a manifest: ``subset``, ``augment``, and the ``seed`` used
        (the subset's permutation and the augmentation's; absent where nothing is drawn at random)."""
        seeded = self.recalibration_seed is not None
        draw: dict[str, Any] = {"subset": "random, seeded" if seeded else "the first, in stored order",
                                "augment": bool(self.recalibration_augment)}
        if seeded or self.recalibration_augment:
            draw["seed"] = self.augmentation_seed()
        return draw

    def eval_crop_size(self) -> int:
        """The side, in pixels, of the central ``eval_crop`` share that evaluation keeps of a stored image."""
        return crop_side(self.image_size, self.eval_crop)

    def stored_fit(self) -> str:
        """How images of another size are stored at ``image_size`` (see :data:`nasedge.data.decode.FITS`)."""
        return "center_crop" if self.train_crop == "random_resized" else "stretch"


def crop_side(side: int, share: float) -> int:
    """The side of the central ``share`` of a ``side``-pixel image (at least 1; ``share`` >= 1: the whole side)."""
    return side if share >= 1.0 else max(1, round(side * share))
