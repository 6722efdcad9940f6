"""PyTorch eager (or a captured CUDA graph): CPU with a fixed thread count, or CUDA timed with events."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import Runner
from nasedge.measure.runtime import Runtime
from nasedge.measure.workload import Artifacts, Workload

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def nvidia_driver_may_be_present() -> bool:
    """False when this machine certainly has no NVIDIA driver: Linux without the driver's ``/proc`` entry (it is
    there inside containers given a GPU too), or macOS; elsewhere only CUDA itself can tell."""
    import sys
    from pathlib import Path

    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    return True


def _keep_gpu_busy(seconds: float) -> None:
    """Half-precision matrix products for ``seconds``: the GPU leaves its idle clock before anything is timed."""
    import torch

    if seconds <= 0:
        return
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(8):
            a @ a
        torch.cuda.synchronize()
    del a


class TorchRuntime(Runtime):
    """``torch`` eager inference under ``inference_mode``.

    ``device: cpu`` times with the wall clock at ``torch.set_num_threads(threads)``; ``device: cuda``
    times each inference between two CUDA events (launch overhead included, as an application sees it),
    and with ``cuda_graph: true`` replays a captured CUDA graph instead (launch overhead removed).
    fp16/bf16 convert weights and inputs (CUDA only). ``cudnn_benchmark`` is off by default: autotuning
    every new shape would cost more than the measurement when thousands of archs are measured.
    ``gpu_warmup_s``: every CUDA session first keeps the GPU busy this long, because an idle GPU runs
    at its idle clock and small batch-1 networks do not load it enough to leave it: a fresh process on
    an idle H200 measured its first archs 5x slow (345 vs 1980 MHz) without it.
    """

    name = "torch"
    requires = ("torch",)
    precisions = ("fp32", "fp16", "bf16")
    options: ClassVar[dict[str, Any]] = {"device": "cpu", "cuda_graph": False, "cudnn_benchmark": False,
                                         "gpu_warmup_s": 0.5}

    def __init__(self, threads: int, batch: int = 1, precision: str = "fp32", **options: Any):
        super().__init__(threads, batch, precision, **options)
        device = self.settings["device"]
        if device not in ("cpu", "cuda"):
            raise NasedgeError(f"runtime torch: field 'device': value {device!r} is not valid; known: cpu, cuda")
        if device == "cpu" and (precision != "fp32" or self.settings["cuda_graph"]):
            raise NasedgeError("runtime torch: fp16/bf16 and cuda_graph need device: cuda")
        warmup = self.settings["gpu_warmup_s"]
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup <= 60:
            raise NasedgeError(f"runtime torch: field 'gpu_warmup_s': value {warmup!r} is not valid; "
                               "expected seconds from 0 to 60")

    @classmethod
    def unavailable(cls, options: Mapping[str, Any]) -> str | None:
        why = super().unavailable(options)
        if why is None and options.get("device", "cpu") == "cuda":
            none = "runtime torch needs a CUDA GPU (device: cuda) and this machine has none (no NVIDIA driver)"
            if not nvidia_driver_may_be_present():  # answered without importing torch (3 s)
                return none
            import torch

            if not torch.cuda.is_available():
                return none
        return why

    @property
    def cpu_threads(self) -> int | None:
        return self.threads if self.settings["device"] == "cpu" else None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        import torch

        if self.settings["device"] == "cuda":
            if not torch.cuda.is_available():
                raise NasedgeError("runtime torch: device cuda is not available on this machine")
            old = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = bool(self.settings["cudnn_benchmark"])
            try:
                _keep_gpu_busy(float(self.settings["gpu_warmup_s"]))
                yield
            finally:
                torch.backends.cudnn.benchmark = old
                torch.cuda.empty_cache()
        else:
            old = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                yield
            finally:
                torch.set_num_threads(old)

    def _model(self, workload: Workload, artifacts: Artifacts) -> Any:
        import torch

        if self.settings["device"] == "cpu":
            return artifacts.model(workload)

        def on_gpu() -> Any:
            with torch.device("cuda"):  # initialise on the GPU: much faster than on the CPU and copying
                return workload.build()

        model = artifacts.get(workload, "torch:cuda", on_gpu)
        if self.precision != "fp32":
            dtype = getattr(torch, DTYPES[self.precision])
            model = artifacts.get(workload, f"torch:cuda:{self.precision}", lambda: copy.deepcopy(model).to(dtype))
        return model

    def prepare(self, workload: Workload, artifacts: Artifacts) -> None:
        self._model(workload, artifacts)

    def load(self, workload: Workload, artifacts: Artifacts) -> Runner:
        import torch

        model = self._model(workload, artifacts)
        device = self.settings["device"]
        dtype = getattr(torch, DTYPES[self.precision])
        x = torch.randn(self.batch, *workload.input_shape, generator=torch.Generator().manual_seed(0)).to(device, dtype)
        if device == "cpu":
            def runner() -> float:
                t = time.perf_counter()
                with torch.inference_mode():
                    model(x)
                return (time.perf_counter() - t) * 1e3

            return runner

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if self.settings["cuda_graph"]:
            graph = torch.cuda.CUDAGraph()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.inference_mode():
                with torch.cuda.stream(stream):  # warm up outside the capture, on a side stream (as required)
                    for _ in range(3):
                        model(x)
                torch.cuda.current_stream().wait_stream(stream)
                with torch.cuda.graph(graph):
                    model(x)
            step = graph.replay
        else:
            def step() -> None:
                with torch.inference_mode():
                    model(x)

        def cuda_runner() -> float:
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return cuda_runner

    def versions(self) -> dict[str, str]:
        import torch

        out = {"torch": torch.__version__}
        if self.settings["device"] == "cuda" and torch.cuda.is_available():
            out["cuda"] = str(torch.version.cuda)
            out["cudnn"] = str(torch.backends.cudnn.version())
            out["gpu"] = torch.cuda.get_device_name()
        return out
