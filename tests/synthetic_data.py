"""A small learnable image dataset made by the tests (no files shipped, nothing downloaded)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from nasedge.data.packed_npz import write_packed_npz


def make_images(n: int, size: int, seed: int) -> tuple[list[bytes], list[int]]:
    """Ten classes, each a colour with an oriented grating and noise, JPEG-encoded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    blobs, labels = [], []
    for i in range(n):
        c = i % 10
        angle = np.pi * c / 10
        freq = 2 + (c % 3)
        wave = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        colour = np.array([(c * 37) % 255, (c * 91) % 255, (c * 53) % 255]) / 255
        img = 0.15 + 0.7 * colour + 0.15 * wave[..., None] + rng.normal(0, 0.05, (size, size, 3))
        buf = io.BytesIO()
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
        blobs.append(buf.getvalue())
        labels.append(c)
    return blobs, labels


def write_dataset(path: Path, n_train: int = 640, n_test: int = 200, size: int = 24) -> Path:
    write_packed_npz(path, [f"class{i}" for i in range(10)], make_images(n_train, size, 0), make_images(n_test, size, 1))
    return path
