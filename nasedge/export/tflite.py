"""TFLite export: the subnet converted with litert-torch, checked against the LiteRT interpreter.

Optional (``pip install 'nasedge[tflite]'``); :func:`tflite_available` says whether it can run. The
converted model takes the same NCHW float input as the PyTorch and ONNX files. Conversion is slow
(15-25 s per OFA-MobileNetV3 subnet on one core of this project's 2-core machine).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_bytes
from nasedge.errors import NasedgeError

INSTALL_HINT = "pip install 'nasedge[tflite]'"


def tflite_available() -> bool:
    """Whether litert-torch (conversion) and ai-edge-litert (the interpreter) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("litert_torch", "ai_edge_litert"))


@contextlib.contextmanager
def _quiet_conversion() -> Iterator[None]:
    """Silence the converter: its progress tree (an environment switch) and the TensorFlow/absl log lines its
    C++ parts write straight to file descriptor 2, which are kept and shown only if the conversion fails."""
    import sys
    import tempfile

    old = {k: os.environ.get(k) for k in ("LITERT_TORCH_SHOW_PROGRESS", "TF_CPP_MIN_LOG_LEVEL")}
    os.environ.update(LITERT_TORCH_SHOW_PROGRESS="n", TF_CPP_MIN_LOG_LEVEL="3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def require_tflite() -> None:
    """Raise the one-line error of a missing ``tflite`` extra (before any file is written)."""
    if not tflite_available():
        raise NasedgeError(f"TFLite export needs litert-torch and ai-edge-litert: {INSTALL_HINT}")


def tflite_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """Convert ``model`` (fp32, eval) for inputs of ``input_shape`` (NCHW) into a TFLite flatbuffer."""
    require_tflite()
    with _quiet_conversion(), torch.no_grad():
        import litert_torch  # importing it logs from C++ too

        example = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0))  # not the caller's generator
        return bytes(litert_torch.convert(model.eval(), (example,)).model_content())


def check_tflite(flatbuffer: bytes, model: nn.Module, arch: Arch, atol: float = 1e-3, seed: int = 0) -> float:
    """Run the flatbuffer in the LiteRT interpreter and compare with ``model``; returns the max abs difference.

    Raises :class:`NasedgeError` when they differ by more than ``atol`` (XNNPACK reorders fp32 sums, so
    the tolerance is looser than ONNX's).
    """
    from ai_edge_litert.interpreter import Interpreter

    x = torch.randn(1, 3, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    with _quiet_conversion():  # the interpreter logs its XNNPACK delegate on fd 2
        interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.numpy())
        interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    diff = float(np.abs(got - expected).max())
    if not diff <= atol:  # also catches NaN
        raise NasedgeError(f"TFLite output differs from PyTorch by {diff:.3g} (> {atol}); not written")
    return diff


def export_tflite(model: nn.Module, arch: Arch, path: str | Path) -> Path:
    """Convert, check against the interpreter, then write ``path`` (batch 1, NCHW input); returns the path."""
    flatbuffer = tflite_bytes(model, (1, 3, arch.resolution, arch.resolution))
    check_tflite(flatbuffer, model, arch)
    atomic_write_bytes(path, flatbuffer)
    return Path(path)
