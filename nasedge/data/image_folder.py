"""Users' own data: ``<path>/train/<class>/*.jpg`` and ``<path>/test/<class>/*.jpg`` (torchvision's layout)."""

from __future__ import annotations

from pathlib import Path

import torch

from nasedge.data.packed_npz import decode_images
from nasedge.errors import NasedgeError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MAX_BYTES = 16 << 30  # decoded images are held in memory


def _split(root: Path, classes: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    if not root.is_dir():
        raise NasedgeError(f"{root}: missing split directory (expected {root.parent}/train and {root.parent}/test)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    classes = classes or found
    if not classes:
        raise NasedgeError(f"{root}: no class directories")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise NasedgeError(f"{root}: class directory {unknown[0]!r} does not exist in the training split")
    files, labels = [], []
    for label, name in enumerate(classes):
        for p in sorted((root / name).iterdir()) if (root / name).is_dir() else []:
            if p.suffix.lower() in EXTENSIONS:
                files.append(p)
                labels.append(label)
    if not files:
        raise NasedgeError(f"{root}: no images ({', '.join(sorted(EXTENSIONS))})")
    return files, labels, classes


def load_image_folder(cfg):
    from nasedge.data.image_dataset import ImageDataset

    root = Path(cfg.path)
    train_files, train_labels, classes = _split(root / "train", None)
    test_files, test_labels, _ = _split(root / "test", classes)
    need = (len(train_files) + len(test_files)) * 3 * cfg.image_size**2
    if need > MAX_BYTES:
        raise NasedgeError(f"{root}: {need / 2**30:.1f} GiB of decoded images at {cfg.image_size}px exceeds the "
                           f"in-memory limit ({MAX_BYTES / 2**30:.0f} GiB); lower data.image_size")
    splits = []
    for files, labels in ((train_files, train_labels), (test_files, test_labels)):
        blobs = [f.read_bytes() for f in files]
        try:
            images = decode_images(blobs, cfg.image_size)
        except Exception as exc:  # PIL raises many types for broken files
            raise NasedgeError(f"{root}: an image could not be decoded ({type(exc).__name__}: {exc})") from None
        splits.append(ImageDataset(torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64), classes))
    return splits[0], splits[1]
