"""onnxruntime: the exported ONNX graph, as deployed; CPU by default, CUDA/TensorRT where installed."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import Runner
from nasedge.measure.runtime import Runtime
from nasedge.measure.workload import Artifacts, Workload

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
OPTIMIZATION = ("none", "basic", "extended", "all")


class OnnxRuntime(Runtime):
    """onnxruntime with ``intra_op_num_threads=threads``, one inter-op thread and sequential execution.

    ``providers`` lists execution providers in order of preference (``cpu``, ``cuda``, ``tensorrt``);
    every listed one must be available: a silent fall-back to the CPU would measure the wrong device.
    ``precision: fp16`` needs ``tensorrt`` (its fp16 mode); the model itself stays fp32.
    """

    name = "onnxruntime"
    requires = ("onnxruntime",)
    precisions = ("fp32", "fp16")
    options: ClassVar[dict[str, Any]] = {"providers": ["cpu"], "optimization": "all"}

    def __init__(self, threads: int, batch: int = 1, precision: str = "fp32", **options: Any):
        super().__init__(threads, batch, precision, **options)
        providers = self.settings["providers"]
        if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence):  # a str: a provider a letter
            raise NasedgeError(f"runtime onnxruntime: field 'providers': value {providers!r} is not valid; expected "
                               f"a list, e.g. [cpu]")
        providers = list(providers)
        bad = [p for p in providers if p not in PROVIDERS]
        if not providers or bad:
            raise NasedgeError(f"runtime onnxruntime: field 'providers': value {bad or providers!r} is not valid; "
                               f"known: {', '.join(PROVIDERS)}")
        if self.settings["optimization"] not in OPTIMIZATION:
            raise NasedgeError(f"runtime onnxruntime: field 'optimization': value {self.settings['optimization']!r}"
                               f" is not valid; known: {', '.join(OPTIMIZATION)}")
        if precision == "fp16" and "tensorrt" not in providers:
            raise NasedgeError("runtime onnxruntime: precision fp16 needs the tensorrt provider "
                               "(use the torch runtime for fp16 on CUDA)")
        self.settings["providers"] = providers

    @classmethod
    def unavailable(cls, options: Mapping[str, Any]) -> str | None:
        why = super().unavailable(options)
        if why is None:
            import onnxruntime as ort

            available = ort.get_available_providers()
            providers = options.get("providers", ["cpu"])
            if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence) \
                    or any(p not in PROVIDERS for p in providers):
                return None  # not a list of known providers: the runtime's own check names the field
            absent = [p for p in providers if PROVIDERS[p] not in available]
            if absent:
                return (f"runtime onnxruntime needs the execution provider {absent[0]} ({PROVIDERS.get(absent[0])}), "
                        f"which this onnxruntime lacks (it has {', '.join(available)})")
        return why

    @property
    def cpu_threads(self) -> int | None:
        return self.threads if self.settings["providers"] == ["cpu"] else None

    def _providers(self) -> list:
        import onnxruntime as ort

        available = ort.get_available_providers()
        out: list = []
        for short in self.settings["providers"]:
            full = PROVIDERS[short]
            if full not in available:
                raise NasedgeError(f"runtime onnxruntime: provider {short} ({full}) is not available here; "
                                   f"available: {', '.join(available)}")
            if short == "tensorrt":
                out.append((full, {"trt_fp16_enable": self.precision == "fp16", "trt_engine_cache_enable": True}))
            else:
                out.append(full)
        return out

    def prepare(self, workload: Workload, artifacts: Artifacts) -> None:
        artifacts.onnx(workload, self.batch)

    def load(self, workload: Workload, artifacts: Artifacts) -> Runner:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = {
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.settings["optimization"]]
        options.log_severity_level = 3
        session = ort.InferenceSession(artifacts.onnx(workload, self.batch), options, providers=self._providers())
        used = session.get_providers()
        dropped = [p for p in self.settings["providers"] if PROVIDERS[p] not in used]
        if dropped:  # onnxruntime falls back silently when a provider fails to initialise
            raise NasedgeError(f"runtime onnxruntime: provider {dropped[0]} failed to initialise; session uses "
                               f"{', '.join(used)}")
        feed = {session.get_inputs()[0].name:
                np.random.default_rng(0).standard_normal((self.batch, *workload.input_shape), dtype=np.float32)}
        run = session.run

        def runner() -> float:
            t = time.perf_counter()
            run(None, feed)
            return (time.perf_counter() - t) * 1e3

        return runner

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__, "providers": ",".join(ort.get_available_providers())}
