"""Every registered runtime (plugins' too): builds, times and reports through the same interface (missing deps skip)."""

from __future__ import annotations

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import RuntimeMeasurer, get_runtime, list_runtimes, register_runtime
from nasedge.measure.workload import Artifacts, Part, Subnet
from nasedge.spaces import get_space


def _runtime_or_skip(name):
    cls = get_runtime(name)
    if cls.missing():
        pytest.skip(cls.missing())
    return cls


@pytest.mark.parametrize("name", list_runtimes())
def test_runtime_times_a_subnet(name):
    cls = _runtime_or_skip(name)
    runtime = cls(threads=1, batch=1)
    assert runtime.cpu_threads == 1  # the CPU configuration of every runtime
    cache = Artifacts()
    arch = get_space("ofa_mbv3_cifar").min_arch()
    workloads = [Subnet(arch)]  # one (LiteRT converts for ~15 s); parts are timed in test_lut.py
    with runtime.session():
        for w in workloads:
            runtime.prepare(w, cache)
        runners = [runtime.load(w, cache) for w in workloads]
        times = [[run() for _ in range(3)] for run in runners]
    assert all(0 < t < 10_000 for ts in times for t in ts)
    versions = runtime.versions()
    assert versions and all(isinstance(v, str) and v for v in versions.values())
    assert runtime.describe()["runtime"] == name


@pytest.mark.parametrize("name", list_runtimes())
def test_runtime_rejects_bad_settings(name):
    cls = get_runtime(name)
    with pytest.raises(NasedgeError, match="field 'threads'"):
        cls(threads=0)
    with pytest.raises(NasedgeError, match="field 'precision'"):
        cls(threads=1, precision="int3")
    with pytest.raises(NasedgeError, match="unknown option 'warp_speed'"):
        cls(threads=1, warp_speed=9)


@pytest.mark.parametrize("value", [-1, 61, "long", True])
def test_torch_rejects_bad_gpu_warmup(value):
    with pytest.raises(NasedgeError, match="field 'gpu_warmup_s': value"):
        _runtime_or_skip("torch")(threads=1, gpu_warmup_s=value)


def test_measurer_pins_and_restores_threads(fast_protocol):
    import os

    import torch

    before_threads, before_cores = torch.get_num_threads(), os.sched_getaffinity(0)
    seen = {}

    class Spy(RuntimeMeasurer):  # look at the process state while the runners are timed
        def measure(self, workloads, artifacts=None):
            inner = self.runtime.load

            def load(w, a):
                seen["cores"], seen["threads"] = os.sched_getaffinity(0), torch.get_num_threads()
                return inner(w, a)

            self.runtime.load = load
            return super().measure(workloads, artifacts)

    m = Spy("torch", threads=1, cores=[max(before_cores)], protocol=fast_protocol)
    (s,) = m.measure([Part("ofa_mbv3_cifar", "stem", 24)])
    assert s.median_ms > 0 and seen == {"cores": {max(before_cores)}, "threads": 1}
    assert torch.get_num_threads() == before_threads and os.sched_getaffinity(0) == before_cores
    info = m.describe()
    assert info["runtime"] == "torch" and info["threads"] == 1 and info["protocol"]["min_rounds"] == 2
    assert info["cpu"] and info["versions"]["torch"]


def test_registry_errors_and_plugins():
    assert {"litert", "onnxruntime", "torch"} <= set(list_runtimes())  # and those of plugins
    with pytest.raises(NasedgeError, match=f"unknown runtime 'tvm'; known: {', '.join(list_runtimes())}$"):
        get_runtime("tvm")
    with pytest.raises(ValueError, match="already registered"):
        register_runtime("torch", "x:Y")
    with pytest.raises(NasedgeError, match="provider tensorrt .* is not available"):
        ort = _runtime_or_skip("onnxruntime")(threads=1, providers=["tensorrt", "cpu"], precision="fp16")
        ort.load(Subnet(get_space("ofa_mbv3_cifar").min_arch()), Artifacts())


@pytest.mark.gpu
@pytest.mark.parametrize("settings", [dict(precision="fp32"), dict(precision="fp16"),
                                      dict(precision="fp16", cuda_graph=True)])
def test_torch_cuda(settings, fast_protocol):
    m = RuntimeMeasurer("torch", threads=1, device="cuda", protocol=fast_protocol, gpu_warmup_s=0.1, **settings)
    stats = m.measure([Subnet(get_space("ofa_mbv3_cifar").min_arch()), Part("ofa_mbv3_cifar", "head", 4)])
    assert all(s.median_ms > 0 and s.cpu_share is None for s in stats)
