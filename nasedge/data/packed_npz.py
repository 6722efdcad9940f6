"""The packed JPEG format: one .npz with every JPEG file of a split concatenated.

Arrays: ``classes``, ``{train,test}_jpeg`` (uint8 bytes), ``{train,test}_offsets`` (int64, n+1; image
i is ``jpeg[off[i]:off[i+1]]``), ``{train,test}_labels`` (int64). This is how CIFAR-10 is shipped in
shared/datasets; :func:`write_packed_npz` writes the same format (used by tests and for users who
want to pack their own ImageFolder).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from nasedge.data.decode import decode_images
from nasedge.errors import NasedgeError

KEYS = ("classes", "train_jpeg", "train_offsets", "train_labels", "test_jpeg", "test_offsets", "test_labels")


def load_packed_npz(cfg):
    from nasedge.data.image_dataset import ImageDataset

    path = Path(cfg.path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise NasedgeError(f"{path}: not a packed image dataset; missing array {missing[0]!r}")
            arrays = {k: z[k] for k in KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None
    classes = [str(c) for c in arrays["classes"]]
    splits = []
    for split in ("train", "test"):
        jpeg, off, labels = arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"], arrays[f"{split}_labels"]
        if len(off) != len(labels) + 1:
            raise NasedgeError(f"{path}: {split}_offsets has {len(off)} entries, expected {len(labels) + 1}")
        blobs = [jpeg[off[i]:off[i + 1]].tobytes() for i in range(len(labels))]
        images = decode_images(blobs, cfg.image_size, cfg.stored_fit(), cfg.decode)
        splits.append(ImageDataset(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), classes))
    return splits[0], splits[1]


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
    """The class names stored in the packed file, without decoding an image."""
    path = Path(cfg.path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "classes" not in z.files:
                raise NasedgeError(f"{path}: not a packed image dataset; missing array 'classes'")
            return [str(c) for c in z["classes"]]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> NasedgeError:
    # numpy reads any file that is not a zip archive as a pickle, and its refusal suggests loading that unsafely
    reason = "not an .npz archive of arrays" if "pickle" in str(exc) else str(exc)
    return NasedgeError(f"{path}: cannot read packed dataset ({reason})")
