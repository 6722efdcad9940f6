"""Batch augmentation and preprocessing on the training device (GPU or CPU), seeded per batch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nasedge.data.config import crop_side


def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> normalised float."""
    m = torch.tensor(mean, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    return (images.to(dtype) / 255.0 - m) / s


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize a float batch to ``resolution`` (antialiased bilinear; identity at the native size).

    This is the preprocessing every subnet sees at its arch's resolution, in training, evaluation
    and deployment alike (the manifest of `nasedge export` records it).
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


def random_resized_crop_flip(x: torch.Tensor, size: int, scale: tuple[float, float], generator: torch.Generator,
                             rows: slice | None = None, total: int | None = None,
                             ratio: tuple[float, float] = (3 / 4, 4 / 3), attempts: int = 10) -> torch.Tensor:
    """ImageNet-style RandomResizedCrop to ``size`` x ``size`` and random horizontal flip, all images at once.

    ``x`` is a float batch ``(N, C, H, W)``. Each crop covers a uniform share ``scale`` of the image's area
    with a log-uniform aspect ratio in ``ratio`` (the first of ``attempts`` draws that fits; the whole image
    when none does, as torchvision does), and is resized by ``roi_align``, which averages several samples
    per output pixel when it shrinks (no aliasing) in one kernel for the whole batch. ``rows`` and
    ``total`` as in :func:`random_crop_flip`.
    """
    from torchvision.ops import roi_align

    n, _, h, w = x.shape
    dev = x.device
    rows, total = (slice(0, n), n) if rows is None else (rows, total)
    area = torch.empty(total, attempts, device=dev).uniform_(scale[0], scale[1], generator=generator) * (h * w)
    log_r = torch.empty(total, attempts, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]),
                                                               generator=generator)
    cw = torch.sqrt(area * torch.exp(log_r)).round()
    ch = torch.sqrt(area / torch.exp(log_r)).round()
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((total,), -1, device=dev))
    pick = first.clamp(min=0)[:, None]
    cw = torch.where(first >= 0, cw.gather(1, pick)[:, 0], torch.full((total,), float(w), device=dev))
    ch = torch.where(first >= 0, ch.gather(1, pick)[:, 0], torch.full((total,), float(h), device=dev))
    u = torch.rand(total, 2, generator=generator, device=dev)
    top = torch.floor(u[:, 0] * (h - ch + 1))
    left = torch.floor(u[:, 1] * (w - cw + 1))
    flip = torch.rand(total, generator=generator, device=dev) < 0.5
    boxes = torch.stack([left, top, left + cw, top + ch], 1)[rows].to(x.dtype)
    boxes = torch.cat([torch.arange(n, device=dev, dtype=x.dtype)[:, None], boxes], 1)
    out = roi_align(x, boxes, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    return torch.where(flip[rows][:, None, None, None], out.flip(3), out)


def center_crop(x: torch.Tensor, share: float) -> torch.Tensor:
    """The central ``share`` of each side of a batch (1.0: unchanged)."""
    if share >= 1.0:
        return x
    h, w = x.shape[-2:]
    ch, cw = crop_side(h, share), crop_side(w, share)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top:top + ch, left:left + cw]


def train_batch(images: torch.Tensor, data, resolution: int, generator: torch.Generator,
                rows: slice | None = None, total: int | None = None) -> torch.Tensor:
    """uint8 training images -> the augmented, normalised float batch at ``resolution``.

    ``data`` is a :class:`nasedge.data.DataConfig`: ``train_crop`` ``pad`` crops after zero padding, flips,
    normalises, applies Cutout and resizes; ``random_resized`` normalises and takes random resized crops
    (flipped) straight at ``resolution``.
    """
    if data.train_crop == "random_resized":
        x = normalize(images, data.mean, data.std)
        return random_resized_crop_flip(x, resolution, tuple(data.crop_scale), generator, rows, total)
    x = random_crop_flip(images, data.crop_padding, generator, rows, total)
    x = cutout(normalize(x, data.mean, data.std), data.cutout, generator, rows=rows, total=total)
    return resize(x, resolution)
