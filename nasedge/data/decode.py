"""Encoded images (JPEG, PNG, ...) to uint8 ``(N, 3, size, size)`` tensors: nvJPEG on a GPU, worker threads otherwise.

Datasets are decoded once when loaded (augmentation then runs on whole batches on the training device,
:mod:`nasedge.data.augment`), so decoding is paid once per run, not once per epoch. On a machine with CUDA,
JPEG files are decoded in batches on the GPU by ``torchvision.io.decode_jpeg(device="cuda")`` and resized
there; other files, and every file without CUDA, go through PIL in a pool of worker threads (PIL releases
the GIL while decoding and resizing, so threads decode in parallel without copying images between processes).
"""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# how an image of another size becomes size x size: stretched (CIFAR-style data, stored square), or its
# shorter side resized to size and the centre cropped (ImageNet-style data, aspect ratio kept)
FITS = ("stretch", "center_crop")
_GPU_CHUNK = 256  # JPEG files per batched GPU decode call


def _fit_pil(img: Image.Image, size: int, fit: str) -> np.ndarray:
    if img.size != (size, size):
        if fit == "center_crop":
            w, h = img.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            img = img.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - size) // 2, (nh - size) // 2
            img = img.crop((left, top, left + size, top + size))
        else:
            img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img)


def _fit_tensor(img: torch.Tensor, size: int, fit: str) -> torch.Tensor:
    """uint8 ``(3, H, W)`` on any device -> ``(3, size, size)``, as :func:`_fit_pil` does."""
    h, w = img.shape[-2:]
    if (h, w) == (size, size):
        return img
    x = img[None].float()
    if fit == "center_crop":
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top:top + size, left:left + size]
    else:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)[0]


def gpu_decoding_available() -> bool:
    """Whether JPEG files can be decoded on a GPU here (CUDA and torchvision's nvJPEG decoder)."""
    if not torch.cuda.is_available():
        return False
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _is_jpeg(blob: bytes) -> bool:
    return blob[:3] == b"\xff\xd8\xff"


def _decode_gpu(blobs: list[bytes], size: int, fit: str, out: np.ndarray, done: np.ndarray) -> None:
    from torchvision.io import ImageReadMode, decode_jpeg

    jpegs = [i for i, b in enumerate(blobs) if _is_jpeg(b)]
    for start in range(0, len(jpegs), _GPU_CHUNK):
        chunk = jpegs[start:start + _GPU_CHUNK]
        data = [torch.frombuffer(bytearray(blobs[i]), dtype=torch.uint8) for i in chunk]
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda")
        except RuntimeError:  # a JPEG variant nvJPEG does not take (e.g. CMYK): left to PIL
            continue
        fitted = torch.stack([_fit_tensor(img, size, fit) for img in images])
        out[chunk] = fitted.cpu().numpy()
        done[chunk] = True


class UndecodableImage(Exception):
    """Image ``index`` of a batch could not be decoded; ``reason`` is the decoder's error."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"image {index}: {reason}")
        self.index, self.reason = index, reason


def decode_images(blobs: list[bytes], size: int, fit: str = "stretch", device: str = "auto") -> np.ndarray:
    """Decode encoded images to ``(N, 3, size, size)`` uint8, fitting those of another size (``fit``: :data:`FITS`).

    ``device``: ``"cuda"`` decodes JPEG files on the GPU, ``"cpu"`` in worker threads, ``"auto"`` the GPU when
    :func:`gpu_decoding_available`. Files the GPU decoder does not take fall back to the threads. A file no decoder
    takes raises :class:`UndecodableImage` with its index.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    out = np.zeros((len(blobs), 3, size, size), np.uint8)
    done = np.zeros(len(blobs), bool)
    if device == "cuda" or (device == "auto" and gpu_decoding_available()):
        _decode_gpu(blobs, size, fit, out, done)
    rest = np.flatnonzero(~done)
    if len(rest):
        def one(i: int) -> None:
            try:
                out[i] = _fit_pil(Image.open(io.BytesIO(blobs[i])).convert("RGB"), size, fit).transpose(2, 0, 1)
            except Exception as exc:  # PIL raises many types for broken files
                # PIL names the in-memory file it was handed (<_io.BytesIO object at 0x...>): noise to the user
                reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc))
                raise UndecodableImage(i, f"{type(exc).__name__}: {reason}") from None

        with ThreadPoolExecutor(max_workers=min(32, os.cpu_count() or 1)) as pool:
            list(pool.map(one, rest.tolist(), chunksize=256))
    return out
