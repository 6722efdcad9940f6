"""Which supernet serves a search-space family (a registry), and the digest that identifies a supernet file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from nasedge.errors import NasedgeError, is_integer
from nasedge.registry import Registry
from nasedge.spaces import SearchSpace

if TYPE_CHECKING:  # torch loads with a supernet class, not with the registry (plugins register without it)
    from torch import nn

# search-space family -> its supernet class
_SUPERNETS = Registry("supernet", {"ofa_mbv3": "nasedge.supernet.ofa_mbv3:OFAMobileNetV3Supernet",
                                   # the same elastic blocks and walk-built fixed parts (no squeeze-excite)
                                   "ofa_proxyless": "nasedge.supernet.ofa_mbv3:OFAMobileNetV3Supernet"},
                      sort=False)


def register_supernet(family: str, target: str | type[nn.Module], *, requires: tuple[str, ...] = (),
                      install_hint: str = "") -> None:
    """Make ``target`` (a class taking ``(space, num_classes)``, or its ``"package.module:Class"``) the
    supernet of the search-space family ``family``."""
    _SUPERNETS.register(family, target, requires=requires, install_hint=install_hint)


def build_supernet(space: SearchSpace, num_classes: int | None = None) -> nn.Module:
    """A freshly initialised supernet for ``space`` (a space or its name)."""
    if isinstance(space, str):
        from nasedge.spaces import get_space

        space = get_space(space)
    if num_classes is not None and (not is_integer(num_classes) or num_classes < 1):
        raise NasedgeError(f"num_classes: value {num_classes!r} is not valid; expected a positive integer or None")
    num_classes = None if num_classes is None else int(num_classes)
    if space.family not in _SUPERNETS:
        known = ", ".join(_SUPERNETS.names())
        raise NasedgeError(f"no supernet for search-space family {space.family!r}; known: {known}")
    return _SUPERNETS.load(space.family)(space, num_classes)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (identifies a supernet in manifests)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
