"""ONNX export of a static subnet, checked against onnxruntime before it is accepted."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_bytes
from nasedge.errors import NasedgeError
from nasedge.export.agreement import output_gap

OPSET = 17
INPUT, OUTPUT = "images", "logits"


def onnx_bytes(model: nn.Module, resolution: int, batch_size: int = 1, dynamic_batch: bool = True,
               channels: int = 3) -> bytes:
    """Serialise ``model`` for ``(batch, channels, resolution, resolution)`` inputs.

    Uses the TorchScript-based exporter where this torch still has it (about 10x faster than the
    torch.export-based one, which matters when measuring thousands of subnets), else the new one.
    """
    model = model.eval()
    # its own generator: exporting must not move the caller's random numbers
    x = torch.randn(batch_size, channels, resolution, resolution, generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=OPSET, input_names=[INPUT],
                              output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}} if dynamic_batch else None)
        except (TypeError, RuntimeError, AttributeError):
            buf = io.BytesIO()
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=max(OPSET, 18),
                                        input_names=[INPUT], output_names=[OUTPUT],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},) if dynamic_batch else None)
            program.save(buf)
    return buf.getvalue()


def export_onnx(model: nn.Module, arch: Arch, path: str | Path) -> Path:
    """Write ``model`` as ONNX (dynamic batch) to ``path``; returns the path."""
    atomic_write_bytes(path, onnx_bytes(model, arch.resolution))
    return Path(path)


def check_onnx(path: str | Path, model: nn.Module, arch: Arch, batch_size: int = 2, atol: float = 1e-4,
               seed: int = 0) -> float:
    """Run the ONNX file in onnxruntime and compare with ``model``; returns the max abs difference.

    Raises :class:`NasedgeError` (and removes the file) when they differ by more than ``atol`` times the largest
    output magnitude (at least 1; :mod:`nasedge.export.agreement` says why).
    """
    import onnxruntime as ort

    x = torch.randn(batch_size, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT: x.numpy()})[0]
    diff, scale = output_gap(got, expected)
    if not diff <= atol * scale:  # also catches NaN
        Path(path).unlink(missing_ok=True)
        raise NasedgeError(f"{path}: onnxruntime output differs from PyTorch by {diff:.3g} (> {atol} x the largest "
                           f"output {scale:.3g}); file removed")
    return diff
