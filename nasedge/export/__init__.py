"""Export of static subnets for deployment: a registry of formats, each a function writing one file.

Every format is checked before its file is kept: ONNX against onnxruntime, TFLite against the LiteRT
interpreter (optional extra), the ``torch.export`` program against the model after loading it back; TorchScript is
traced from the model itself.

>>> paths = export_subnet(model, arch, ["onnx", "torch"], "out/")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.lazy import lazy_names

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FORMATS", "export_subnet", "export_onnx", "check_onnx", "export_program", "export_tflite",
           "export_torchscript", "parse_formats", "tflite_available"]

# the writers' modules import torch (1-2 s): they load on first use, so that checking a configuration's
# formats stays fast
__getattr__, __dir__ = lazy_names(__name__, {
    "export_onnx": "nasedge.export.onnx", "check_onnx": "nasedge.export.onnx",
    "export_program": "nasedge.export.program", "export_tflite": "nasedge.export.tflite",
    "tflite_available": "nasedge.export.tflite", "export_torchscript": "nasedge.export.torchscript"},
    globals(), __all__)


def _writer(name: str) -> Callable[[nn.Module, Arch, Path], None]:
    def write(model: nn.Module, arch: Arch, path: Path) -> None:
        __getattr__(name)(model, arch, path)
    return write


def _onnx(model: nn.Module, arch: Arch, path: Path) -> None:
    __getattr__("check_onnx")(__getattr__("export_onnx")(model, arch, path), model, arch)


# format name -> (file name, writer(model, arch, path) -> None)
FORMATS: dict[str, tuple[str, Callable[[nn.Module, Arch, Path], None]]] = {
    # TorchScript: Python or C++ (LibTorch); deprecated upstream
    "torch": ("subnet.pt", _writer("export_torchscript")),
    # a torch.export program (torch.export.load), TorchScript's successor
    "pt2": ("subnet.pt2", _writer("export_program")),
    "onnx": ("subnet.onnx", _onnx),
    "tflite": ("subnet.tflite", _writer("export_tflite")),  # needs the tflite extra
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
