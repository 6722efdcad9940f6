"""Users' own data: ``<path>/train/<class>/*.jpg`` and ``<path>/test/<class>/*.jpg`` (torchvision's layout).

The held-out split may be named ``val`` instead of ``test`` (ImageNet's layout). Classes are the
training split's folders, sorted; their number is the dataset's class count.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nasedge.data.decode import UndecodableImage, decode_images
from nasedge.errors import NasedgeError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
HELD_OUT = ("test", "val")  # the first that exists is the held-out split


def _held_out(root: Path) -> Path:
    for name in HELD_OUT:
        if (root / name).is_dir():
            return root / name
    return root / HELD_OUT[0]  # reported missing by _split


def _class_dirs(root: Path) -> list[str]:
    if not root.is_dir():
        raise NasedgeError(f"{root}: missing split directory (expected {root.parent}/train and "
                           f"{root.parent}/test or {root.parent}/val)")
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def image_folder_classes(cfg) -> list[str]:
    """The class names (the training split's folders, sorted), without reading an image."""
    classes = _class_dirs(Path(cfg.path) / "train")
    if not classes:
        raise NasedgeError(f"{Path(cfg.path) / 'train'}: no class directories")
    return classes


def _split(root: Path, classes: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    found = _class_dirs(root)
    training = classes is None  # the training split's folders are the classes
    classes = classes or found
    if not classes:
        raise NasedgeError(f"{root}: no class directories")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise NasedgeError(f"{root}: class directory {unknown[0]!r} does not exist in the training split")
    files, labels = [], []
    for label, name in enumerate(classes):
        before = len(files)
        for p in sorted((root / name).iterdir()) if (root / name).is_dir() else []:
            if p.suffix.lower() in EXTENSIONS:
                files.append(p)
                labels.append(label)
        if training and len(files) == before:
            raise NasedgeError(f"{root / name}: a class directory without images ({', '.join(sorted(EXTENSIONS))}); "
                               f"remove it, or it becomes a class the network is trained to predict")
    if not files:
        raise NasedgeError(f"{root}: no images ({', '.join(sorted(EXTENSIONS))})")
    return files, labels, classes


def _gib(size: int) -> str:
    """``size`` bytes in GiB, to one decimal, and to two significant digits under 0.1 (never "0.0")."""
    gib = size / 2**30
    return f"{gib:.1f}" if gib >= 0.1 else f"{gib:.2g}"


def load_image_folder(cfg, rows):
    """Both splits, decoded; ``rows(split, count)``: the rows to decode, in order (None: all)."""
    from nasedge.data.image_dataset import ImageDataset, encoded_digest

    root = Path(cfg.path)
    train_files, train_labels, classes = _split(root / "train", None)
    test_files, test_labels, _ = _split(_held_out(root), classes)
    picked = []
    for split, files, labels in (("train", train_files, train_labels), ("test", test_files, test_labels)):
        chosen = rows(split, len(files))
        picked.append((files, labels) if chosen is None else
                      ([files[i] for i in chosen.tolist()], [labels[i] for i in chosen.tolist()]))
    need = sum(len(files) for files, _ in picked) * 3 * cfg.image_size**2
    if need > cfg.max_memory_gib * 2**30:
        raise NasedgeError(f"{root}: {_gib(need)} GiB of decoded images at {cfg.image_size}px exceeds the "
                           f"in-memory limit data.max_memory_gib={cfg.max_memory_gib:g}; lower data.image_size, "
                           f"use fewer images (data.limit_train, data.limit_test) or raise the limit")
    splits = []
    for files, labels in picked:
        blobs = [f.read_bytes() for f in files]
        try:
            images = decode_images(blobs, cfg.image_size, cfg.stored_fit(), cfg.decode)
        except UndecodableImage as exc:
            raise NasedgeError(f"{files[exc.index]}: not a readable image ({exc.reason})") from None
        splits.append(ImageDataset(torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64), classes,
                                   encoded_digest(blobs)))
    return splits[0], splits[1]
