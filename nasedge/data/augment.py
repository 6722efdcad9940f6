"""Batch augmentation and preprocessing on the training device (GPU or CPU), seeded per batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> normalised float."""
    m = torch.tensor(mean, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    return (images.to(dtype) / 255.0 - m) / s


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize a float batch to ``resolution`` (antialiased bilinear; identity at the native size).

    This is the preprocessing every subnet sees at its arch's resolution, in training, evaluation
    and deployment alike (the export manifest records it).
    """
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator,
                     rows: slice | None = None, total: int | None = None) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip of a uint8 batch, all images at once.

    ``rows`` of a batch of ``total`` images (one rank's shard): the randomness of the whole batch is
    drawn and these rows are kept, so a shard is augmented exactly as within the whole batch.
    """
    n, c, h, w = images.shape
    dev = images.device
    rows, total = (slice(0, n), n) if rows is None else (rows, total)
    padded = F.pad(images, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (total,), generator=generator, device=dev)[rows]
    ox = torch.randint(0, 2 * padding + 1, (total,), generator=generator, device=dev)[rows]
    ys = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None].expand(n, c, h, padded.shape[3])
    xs = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :].expand(n, c, h, w)
    out = padded.gather(2, ys).gather(3, xs)
    flip = torch.rand(total, generator=generator, device=dev)[rows] < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator, fill: float | torch.Tensor = 0.0,
           rows: slice | None = None, total: int | None = None) -> torch.Tensor:
    """Fill one ``size`` x ``size`` square per image with ``fill`` (Cutout, DeVries & Taylor 2017).

    Centres are uniform over the image, so squares near a border are clipped. On a normalised batch
    the default zero is the dataset mean; ``fill`` may be a per-channel tensor (uint8 batches).
    ``size`` 0 returns ``x`` unchanged; ``rows`` and ``total`` as in :func:`random_crop_flip`.
    """
    if size <= 0:
        return x
    n, _, h, w = x.shape
    dev = x.device
    rows, total = (slice(0, n), n) if rows is None else (rows, total)
    cy = torch.randint(0, h, (total, 1, 1), generator=generator, device=dev)[rows]
    cx = torch.randint(0, w, (total, 1, 1), generator=generator, device=dev)[rows]
    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    top, left = cy - size // 2, cx - size // 2
    hole = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    if isinstance(fill, torch.Tensor):
        return torch.where(hole[:, None], fill.to(x.device, x.dtype).view(1, -1, 1, 1), x)
    return x.masked_fill(hole[:, None], fill)
