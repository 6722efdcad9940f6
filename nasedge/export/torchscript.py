"""PyTorch export: a TorchScript file that ``torch.jit.load`` (Python or C++) runs without nasedge."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_bytes


def export_torchscript(model: nn.Module, arch: Arch, path: str | Path) -> Path:
    """Trace ``model`` at the arch's resolution and save it; the arch JSON is stored as an extra file."""
    x = torch.randn(1, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(0))  # not the caller's
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracing is deprecated upstream but still the portable format
        traced = torch.jit.trace(model.eval(), x)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"arch.json": arch.to_json()})
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
