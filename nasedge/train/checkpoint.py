"""Training checkpoints: written atomically as parts of bounded size, verified on load.

Layout of a checkpoint directory::

    checkpoint.json          manifest: sequence number, part files, their sizes and SHA-256
    ckpt-000012.part000      torch.save bytes, split into parts of at most ``part_mib`` MiB
    ckpt-000012.part001

A new checkpoint writes its parts under a new sequence number, then replaces the manifest in one
atomic rename, then removes the parts of the previous one. A crash at any point leaves a complete
checkpoint: the old one until the rename, the new one after it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from nasedge.atomic import atomic_write_bytes, atomic_write_text
from nasedge.errors import NasedgeError

MANIFEST = "checkpoint.json"


def save_checkpoint(directory: str | Path, state: dict[str, Any], part_mib: int = 16) -> Path:
    """Write ``state`` (tensors, dicts, lists, numbers, strings) as the directory's current checkpoint."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(directory)
    seq = previous["sequence"] + 1 if previous else 0
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    size = max(1, part_mib) << 20
    parts = []
    for i, start in enumerate(range(0, len(data), size)):
        chunk = data[start:start + size]
        name = f"ckpt-{seq:06d}.part{i:03d}"
        atomic_write_bytes(directory / name, chunk)
        parts.append({"file": name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    atomic_write_text(directory / MANIFEST, json.dumps({"sequence": seq, "parts": parts}, indent=1))
    keep = {p["file"] for p in parts}
    for stale in directory.glob("ckpt-*.part*"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)
    return directory / MANIFEST


def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a checkpoint (its manifest; the parts are verified when it is loaded)."""
    return (Path(directory) / MANIFEST).is_file()


def load_checkpoint(directory: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The directory's current checkpoint, or None if it has none; damaged parts raise :class:`NasedgeError`."""
    directory = Path(directory)
    manifest = _read_manifest(directory)
    if manifest is None:
        return None
    chunks = []
    for part in manifest["parts"]:
        path = directory / part["file"]
        try:
            chunk = path.read_bytes()
        except FileNotFoundError:
            raise NasedgeError(f"{path}: checkpoint part missing") from None
        if hashlib.sha256(chunk).hexdigest() != part["sha256"]:
            raise NasedgeError(f"{path}: checkpoint part is damaged (checksum mismatch)")
        chunks.append(chunk)
    return torch.load(io.BytesIO(b"".join(chunks)), map_location=map_location, weights_only=True)


def _read_manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        assert isinstance(manifest["sequence"], int) and isinstance(manifest["parts"], list)
        return manifest
    except (json.JSONDecodeError, KeyError, AssertionError, TypeError):
        raise NasedgeError(f"{path}: checkpoint manifest is damaged") from None
