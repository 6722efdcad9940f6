"""A split of an image classification dataset, held in memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch


def subset_rows(count: int, n: int | None, seed: int = 0) -> Optional[torch.Tensor]:
    """The rows of ``n`` of ``count`` images drawn without replacement by a seeded permutation, in stored order
    (None: all of them)."""
    if n is None or n >= count:
        return None
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def encoded_digest(blobs: list[bytes]) -> str:
    """A digest of 64 or so evenly spaced of a split's encoded files (``blobs``, in the split's order).

    The files' bytes, not their decoded pixels, name the data: pixels differ by rounding between decoders (GPU or
    CPU, CUDA, nvJPEG, Pillow or libjpeg versions) while the bytes are what was given."""
    digest = hashlib.sha256()
    for blob in blobs[::max(1, len(blobs) // 64)]:
        digest.update(len(blob).to_bytes(8, "little"))  # the length too: no two samples concatenate alike
        digest.update(blob)
    return digest.hexdigest()


@dataclass
class ImageDataset:
    """A split held in memory: ``images`` uint8 ``(N, 3, H, W)``, ``labels`` int64 ``(N,)``; ``encoded``: the
    :func:`encoded_digest` of the files the images were decoded from (None: not read from files, or a subset)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    encoded: Optional[str] = None

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> ImageDataset:
        return ImageDataset(self.images.to(device), self.labels.to(device), self.classes, self.encoded)

    def subset(self, n: int | None, seed: int = 0) -> ImageDataset:
        """``n`` images drawn without replacement by a seeded permutation (all of them when None)."""
        idx = subset_rows(len(self), n, seed)
        if idx is None:
            return self
        return ImageDataset(self.images[idx], self.labels[idx], self.classes)  # other files than ``encoded`` names
