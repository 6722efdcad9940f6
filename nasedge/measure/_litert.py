"""LiteRT (TFLite): the subnet converted with litert-torch, run by the LiteRT interpreter (XNNPACK on CPU).

Conversion is slow (about 15 s per OFA-MobileNetV3 subnet on one core of this project's machine) and
the converted flatbuffer is cached per workload in the caller's :class:`Artifacts`.
"""

from __future__ import annotations

import time

import numpy as np

from nasedge.measure.protocol import Runner
from nasedge.measure.runtime import Runtime
from nasedge.measure.workload import Artifacts, Workload


class LiteRTRuntime(Runtime):
    """The LiteRT interpreter with ``num_threads=threads`` (fp32; XNNPACK is its default CPU delegate)."""

    name = "litert"
    requires = ("ai_edge_litert", "litert_torch")
    install_hint = " (pip install 'nasedge[tflite]')"

    def _flatbuffer(self, workload: Workload, artifacts: Artifacts) -> bytes:
        shape = (self.batch, *workload.input_shape)
        from nasedge.export.tflite import tflite_bytes  # torch: on converting a model, not on reading the options

        return artifacts.get(workload, f"tflite:b{self.batch}", lambda: tflite_bytes(artifacts.model(workload), shape))

    def prepare(self, workload: Workload, artifacts: Artifacts) -> None:
        self._flatbuffer(workload, artifacts)

    def load(self, workload: Workload, artifacts: Artifacts) -> Runner:
        from ai_edge_litert.interpreter import Interpreter

        shape = (self.batch, *workload.input_shape)
        flat = self._flatbuffer(workload, artifacts)
        interpreter = Interpreter(model_content=flat, num_threads=self.threads)
        interpreter.allocate_tensors()
        index = interpreter.get_input_details()[0]["index"]
        interpreter.set_tensor(index, np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
        invoke = interpreter.invoke

        def runner() -> float:
            t = time.perf_counter()
            invoke()
            return (time.perf_counter() - t) * 1e3

        return runner

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"ai-edge-litert": version("ai-edge-litert"), "litert-torch": version("litert-torch")}
