"""Export of static subnets for deployment: a registry of formats, each a function writing one file.

Every format is checked before its file is kept: ONNX against onnxruntime, TFLite against the LiteRT
interpreter (optional extra), the ``torch.export`` program against the model after loading it back; TorchScript is
traced from the model itself.

>>> paths = export_subnet(model, arch, ["onnx", "torch"], "out/")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.export.onnx import check_onnx, export_onnx
from nasedge.export.program import export_program
from nasedge.export.tflite import export_tflite, tflite_available
from nasedge.export.torchscript import export_torchscript

__all__ = ["FORMATS", "export_subnet", "export_onnx", "check_onnx", "export_program", "export_tflite",
           "export_torchscript", "parse_formats", "tflite_available"]

# format name -> (file name, writer(model, arch, path) -> None)
FORMATS: dict[str, tuple[str, Callable[[nn.Module, Arch, Path], None]]] = {
    "torch": ("subnet.pt", export_torchscript),  # TorchScript: Python or C++ (LibTorch); deprecated upstream
    "pt2": ("subnet.pt2", export_program),  # torch.export program, TorchScript's successor (torch.export.load)
    "onnx": ("subnet.onnx", lambda model, arch, path: check_onnx(export_onnx(model, arch, path), model, arch)),
    "tflite": ("subnet.tflite", export_tflite),  # needs the tflite extra
}


def parse_formats(text: str | Sequence[str]) -> list[str]:
    """``"onnx,torch"`` (or ``["onnx", "torch"]``) -> ``["onnx", "torch"]``, rejecting unknown names."""
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = [f.strip() if isinstance(f, str) else f for f in items if not isinstance(f, str) or f.strip()]
    unknown = [repr(f) if not isinstance(f, str) else f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise NasedgeError(f"unknown export format {', '.join(unknown) or repr(text)}; known: {', '.join(FORMATS)}")
    return formats


def export_subnet(model: nn.Module, arch: Arch, formats: str | Sequence[str], out_dir: str | Path) -> dict[str, Path]:
    """Write ``model`` (a static subnet for ``arch``) in each format into ``out_dir``; returns format -> path."""
    formats = parse_formats(formats)
    if not isinstance(arch, Arch):
        raise NasedgeError(f"export_subnet: arch {arch!r} is not valid; expected an Arch")
    if hasattr(model, "extract"):  # the elastic supernet: its forward is whatever arch was set last
        raise NasedgeError("export_subnet takes a static subnet; extract it first (supernet.extract(arch))")
    built_for = getattr(model, "arch_json", "")
    if built_for and Arch.from_json(built_for) != arch:  # the files would be the model's, the manifest the arch's
        raise NasedgeError(f"the model was built for {Arch.from_json(built_for).to_json()}, not for the arch "
                           f"given ({arch.to_json()})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    written = {}
    for fmt in formats:
        filename, writer = FORMATS[fmt]
        writer(model, arch, out_dir / filename)
        written[fmt] = out_dir / filename
    return written
