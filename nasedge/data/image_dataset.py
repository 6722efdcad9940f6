"""A split of an image classification dataset, held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


def subset_rows(count: int, n: int | None, seed: int = 0) -> Optional[torch.Tensor]:
    """The rows of ``n`` of ``count`` images drawn without replacement by a seeded permutation, in stored order
    (None: all of them)."""
    if n is None or n >= count:
        return None
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:n].sort().values


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
        idx = subset_rows(len(self), n, seed)
        if idx is None:
            return self
        return ImageDataset(self.images[idx], self.labels[idx], self.classes)
