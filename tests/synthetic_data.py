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


SHAPES = ("disc", "square", "triangle", "ring", "cross", "hbar", "vbar")


def shape_image(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """A coloured shape of ``kind`` (:data:`SHAPES`) at a random place and size on a noisy background,
    not square (the ImageNet-style pipeline crops it); its colour is that of the class, slightly varied."""
    h, w = size, int(size * rng.uniform(1.0, 1.3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = rng.uniform(0.22, 0.32) * size
    cy, cx = rng.uniform(0.4, 0.6) * h, rng.uniform(0.4, 0.6) * w
    dy, dx = (yy - cy) / r, (xx - cx) / r
    mask = {"disc": dy**2 + dx**2 < 1, "square": (abs(dy) < 0.85) & (abs(dx) < 0.85),
            "triangle": (dy < 0.8) & (dy > 2 * abs(dx) - 1.0), "ring": abs(np.hypot(dy, dx) - 0.8) < 0.22,
            "cross": ((abs(dy) < 0.25) | (abs(dx) < 0.25)) & (abs(dy) < 1) & (abs(dx) < 1),
            "hbar": (abs(dy) < 0.3) & (abs(dx) < 1.1), "vbar": (abs(dx) < 0.3) & (abs(dy) < 1.1)}[kind]
    c = SHAPES.index(kind)
    colour = np.array([(c * 97) % 200 + 40, (c * 59) % 200 + 40, (c * 151) % 200 + 40]) + rng.normal(0, 10, 3)
    img = rng.normal(110, 25, (h, w, 3)) * (1 - mask[..., None]) + colour * mask[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def write_shapes_folder(root: Path, per_class: int = 4, test_per_class: int = 2, size: int = 160,
                        classes: int = 7, held_out: str = "val", seed: int = 0) -> Path:
    """An ImageFolder (``root/train/<class>/*.jpg``, ``root/<held_out>/<class>/*.jpg``) of coloured shapes."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), (held_out, test_per_class)):
        for kind in SHAPES[:classes]:
            (root / split / kind).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape_image(kind, size, rng).save(root / split / kind / f"{i}.jpg", quality=90)
    return root
