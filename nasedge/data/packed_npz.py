"""The packed JPEG format: one .npz with every JPEG file of a split concatenated.

Arrays: ``classes``, ``{train,test}_jpeg`` (uint8 bytes), ``{train,test}_offsets`` (int64, n+1; image
i is ``jpeg[off[i]:off[i+1]]``), ``{train,test}_labels`` (int64). This is how CIFAR-10 is shipped in
shared/datasets; :func:`write_packed_npz` writes the same format (used by tests and for users who
want to pack their own ImageFolder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasedge.errors import NasedgeError
from nasedge.npz import read_npz

WHAT = "packed image dataset"
KEYS = ("classes", "train_jpeg", "train_offsets", "train_labels", "test_jpeg", "test_offsets", "test_labels")


def load_packed_npz(cfg, rows):
    """Both splits, decoded; ``rows(split, count)``: the rows to decode, in order (None: all)."""
    import torch

    from nasedge.data.decode import UndecodableImage, decode_images
    from nasedge.data.image_dataset import ImageDataset, encoded_digest

    path = Path(cfg.path)
    arrays = read_npz(path, KEYS, WHAT)
    classes = _class_names(path, arrays["classes"])
    for split in ("train", "test"):  # both splits, before the first image is decoded
        _check_split(path, split, arrays, len(classes))
    splits = []
    for split in ("train", "test"):
        jpeg, off, labels = arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"], arrays[f"{split}_labels"]
        picked = rows(split, len(labels))
        picked = np.arange(len(labels)) if picked is None else np.asarray(picked)
        blobs = [jpeg[off[i]:off[i + 1]].tobytes() for i in picked]
        try:
            images = decode_images(blobs, cfg.image_size, cfg.stored_fit(), cfg.decode)
        except UndecodableImage as exc:
            raise NasedgeError(f"{path}: {split} image {picked[exc.index]} is not a readable image "
                               f"({exc.reason})") from None
        splits.append(ImageDataset(torch.from_numpy(images), torch.from_numpy(labels[picked].astype(np.int64)),
                                   classes, encoded_digest(blobs)))
    return splits[0], splits[1]


def _class_names(path: str | Path, classes: np.ndarray) -> list[str]:
    if classes.ndim != 1 or not len(classes):
        raise NasedgeError(f"{path}: classes has shape {classes.shape}; expected a list of class names")
    return [str(c) for c in classes]


def _check_split(path: Path, split: str, arrays: dict[str, np.ndarray], num_classes: int) -> None:
    """The bytes, offsets and labels of ``split`` are what the format says, as one line naming the array: an
    out-of-range label failed inside the first training step (or counted as a wrong prediction in evaluation),
    a float label was cast silently, an offset past the bytes cut an image short."""
    jpeg, off, labels = (arrays[f"{split}_{key}"] for key in ("jpeg", "offsets", "labels"))
    if jpeg.ndim != 1 or jpeg.dtype != np.uint8:
        raise NasedgeError(f"{path}: {split}_jpeg is {jpeg.dtype} of shape {jpeg.shape}; expected uint8 bytes")
    for key, values in (("labels", labels), ("offsets", off)):
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise NasedgeError(f"{path}: {split}_{key} is {values.dtype} of shape {values.shape}; expected a list "
                               f"of integers")
    if len(off) != len(labels) + 1:
        raise NasedgeError(f"{path}: {split}_offsets has {len(off)} entries, expected {len(labels) + 1}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        row = int(bad[0])
        raise NasedgeError(f"{path}: {split}_labels holds {labels[row]} at row {row}; expected 0..{num_classes - 1} "
                           f"({num_classes} class{'es' * (num_classes != 1)} in classes)")
    if off[0] < 0:
        raise NasedgeError(f"{path}: {split}_offsets starts at {off[0]}; expected offsets >= 0 into {split}_jpeg")
    back = np.flatnonzero(off[1:] < off[:-1])  # not np.diff: unsigned offsets would wrap around, never negative
    if back.size:
        i = int(back[0]) + 1
        raise NasedgeError(f"{path}: {split}_offsets decreases at entry {i} ({off[i]} after {off[i - 1]}); "
                           f"expected non-decreasing offsets into {split}_jpeg")
    if off[-1] > len(jpeg):
        raise NasedgeError(f"{path}: {split}_offsets ends at {off[-1]}, past the end of {split}_jpeg "
                           f"({len(jpeg)} bytes)")


def write_packed_npz(path: str | Path, classes: list[str], train: tuple[list[bytes], list[int]],
                     test: tuple[list[bytes], list[int]]) -> None:
    """Write encoded images and labels of both splits in the packed format."""
    arrays = {"classes": np.array(classes)}
    for split, (blobs, labels) in (("train", train), ("test", test)):
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64)
    np.savez_compressed(path, **arrays)


def packed_npz_classes(cfg) -> list[str]:
    """The class names stored in the packed file, without decoding an image (nor importing torch: a command checks
    its ``--data`` file with it before the work starts)."""
    return _class_names(cfg.path, read_npz(cfg.path, ("classes",), WHAT)["classes"])
