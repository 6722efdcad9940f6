"""A split of an image classification dataset, held in memory."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
