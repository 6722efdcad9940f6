"""Checks of command-line inputs that run before anything heavy loads: files exist and parse, folders can be
written, URLs look like URLs. Each failure is one :class:`~nasedge.errors.NasedgeError` line naming the flag and
the value; nothing here imports torch or Ray, so a bad input costs well under 2 s."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from nasedge.errors import NasedgeError

# what torch.save writes: a zip archive (since torch 1.6) or, in the legacy format, a pickle
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def check_checkpoint_file(flag: str, path: str) -> None:
    """``path`` is a readable file that starts like a PyTorch checkpoint (the full check is loading it)."""
    p = Path(path)
    if not p.exists():
        raise NasedgeError(f"{flag} {path}: supernet checkpoint not found")
    if not p.is_file():
        raise NasedgeError(f"{flag} {path}: is a folder, expected a supernet checkpoint file")
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise NasedgeError(f"{flag} {path}: cannot be read ({exc.strerror})") from None
    if not head.startswith(_CHECKPOINT_MAGIC):
        raise NasedgeError(f"{path}: not a readable supernet checkpoint (neither a zip nor a pickle file)")


def check_measurements_csv(flag: str, path: str, device: Optional[str] = None) -> None:
    """``path`` is a CSV of archs and latencies (``nasedge measure`` output or ``arch,latency_ms``) that parses:
    every row, arch and value; with several devices in it, ``device`` must be one of them."""
    import csv

    from nasedge.predict.dataset import read_arch_latency_csv

    devices: set = set()
    try:
        with open(path, newline="") as f:
            rows = csv.DictReader(f)
            if "device" in (rows.fieldnames or []):
                devices = {r.get("device") for r in rows}
    except (OSError, UnicodeDecodeError, csv.Error):
        pass  # read_arch_latency_csv names the problem
    keep = device if device in devices or len(devices) > 1 else None
    try:
        read_arch_latency_csv(path, device=keep)
    except NasedgeError as exc:
        raise NasedgeError(f"{flag}: {exc}") from None


def check_arch_file(flag: str, path: str) -> None:
    """``path`` holds an architecture (JSON) valid in its space."""
    from nasedge.arch import Arch
    from nasedge.spaces import get_space

    if not Path(path).is_file():
        raise NasedgeError(f"{flag} {path}: no such arch file")
    arch = Arch.load(path)
    get_space(arch.space).validate(arch, source=path)


def check_out_dir(flag: str, path: Optional[str]) -> None:
    """``path`` is a folder or can become one (no file in its place or above it)."""
    if not path:
        return
    p = Path(path)
    for parent in [p, *p.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NasedgeError(f"{flag} {path}: {parent} exists and is not a folder")
            return


def check_url(flag: str, url: Optional[str]) -> None:
    if url and not url.startswith(("http://", "https://")):
        raise NasedgeError(f"{flag} {url!r} is not valid; expected http://HOST:PORT or https://...")
