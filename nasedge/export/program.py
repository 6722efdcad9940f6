"""PyTorch export as a ``torch.export`` program (``.pt2``): what ``torch.export.load`` runs without nasedge.

TorchScript (:mod:`nasedge.export.torchscript`) is deprecated upstream (``torch.jit.load`` warns that it is);
this is its successor, with a dynamic batch dimension. The file is loaded back and checked against the model
before it is written.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_bytes
from nasedge.errors import NasedgeError
from nasedge.export.agreement import output_gap

ARCH_FILE = "arch.json"  # the arch, stored beside the program (``torch.export.load(..., extra_files=...)``)
CHECK_BATCHES = (1, 3)  # the batch dimension is dynamic: check a single image and a batch


def program_bytes(model: nn.Module, arch: Arch) -> bytes:
    """Export ``model`` for ``(batch, 3, r, r)`` inputs at the arch's resolution and serialise it with the arch."""
    # batch 2: torch.export fixes a dimension of size 1; its own generator leaves the caller's random numbers alone
    x = torch.randn(2, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        program = torch.export.export(model.eval(), (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={ARCH_FILE: arch.to_json()})
    return buf.getvalue()


def check_program(data: bytes, model: nn.Module, arch: Arch, atol: float = 1e-5, seed: int = 0) -> float:
    """Load the serialised program and compare it with ``model``; returns the max abs difference.

    Raises :class:`NasedgeError` when they differ by more than ``atol`` times the largest output magnitude (at
    least 1), or when the stored arch is not ``arch``. The program runs the same kernels as the model, so the
    tolerance is tight.
    """
    extra = {ARCH_FILE: ""}
    loaded = torch.export.load(io.BytesIO(data), extra_files=extra).module()
    stored = extra[ARCH_FILE]
    stored = stored.decode() if isinstance(stored, bytes) else stored
    if Arch.from_json(stored) != arch:
        raise NasedgeError(f"torch.export program stores arch {stored}, not the one exported; not written")
    generator = torch.Generator().manual_seed(seed)
    got, expected = [], []
    with torch.no_grad():
        for batch in CHECK_BATCHES:
            x = torch.randn(batch, 3, arch.resolution, arch.resolution, generator=generator)
            got.append(loaded(x))
            expected.append(model.eval()(x))
    diff, scale = output_gap(torch.cat(got).numpy(), torch.cat(expected).numpy())
    if not diff <= atol * scale:  # also catches NaN
        raise NasedgeError(f"torch.export program output differs from PyTorch by {diff:.3g} (> {atol} x the largest "
                           f"output {scale:.3g}); not written")
    return diff


def export_program(model: nn.Module, arch: Arch, path: str | Path) -> Path:
    """Export, check the loaded program against ``model``, then write ``path`` atomically; returns the path."""
    data = program_bytes(model, arch)
    check_program(data, model, arch)
    atomic_write_bytes(path, data)
    return Path(path)
