"""Fixtures: the latency samples shipped in latency_predictors/data, and a lookup table and whole-arch
latencies measured for real on this machine's CPU (PyTorch, one thread) for the tiny CIFAR space."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest

from nasedge.predict.dataset import load_dataset
from nasedge.resources import shipped_path

DATA = shipped_path("latency_predictors") / "data"


@functools.lru_cache(maxsize=None)
def _sample(name: str):
    return load_dataset(DATA / name)


@pytest.fixture
def data_dir():
    """latency_predictors/data (the shipped latency datasets)."""
    return DATA


@pytest.fixture
def ofa_sample():
    """310 OFA w1.2 archs x 12 GPUs of the HELP benchmark."""
    return _sample("help_ofa_sample")


@pytest.fixture
def nb201_sample():
    """308 NAS-Bench-201 archs x 27 devices of the HELP benchmark."""
    return _sample("help_nasbench201_sample")


def _time_ms(modules_and_shapes, rounds: int = 12) -> np.ndarray:
    """Latency (ms) of each module on one thread: the minimum over rounds that visit every module once.

    Thread CPU time rather than wall time, and interleaved rounds: the test machine is shared, and time
    spent waiting for a core is not the network's latency (nasedge.measure owns real measurement)."""
    import torch

    inputs = [torch.randn(*shape) for _, shape in modules_and_shapes]
    best = np.full(len(inputs), np.inf)
    with torch.inference_mode():
        for m, x in zip((m for m, _ in modules_and_shapes), inputs):
            m(x)  # warm-up
        for _ in range(rounds):
            for i, ((m, _), x) in enumerate(zip(modules_and_shapes, inputs)):
                t = time.thread_time()
                m(x)
                best[i] = min(best[i], time.thread_time() - t)
    return 1e3 * best


@functools.lru_cache(maxsize=None)
def _cifar_lut_case():
    import torch

    from nasedge.latency_table import FORMAT
    from nasedge.measure.workload import Part
    from nasedge.nn.mobilenetv3 import build_mobilenetv3
    from nasedge.predict.encodings import get_encoding
    from nasedge.predict.profile import reference_archs, spread_archs
    from nasedge.spaces import get_space

    space = get_space("ofa_mbv3_cifar")
    # what a new device measures: the 10 reference archs, then 10 more
    archs = reference_archs(space) + spread_archs(get_encoding(space), 10, pool=400, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        keys = sorted({layer.key for a in archs for layer in space.layers(a)})
        parts = [(part.build(), (1, *part.input_shape)) for part in (Part.from_key(space.name, k) for k in keys)]
        entries = {k: {"median_ms": float(ms)} for k, ms in zip(keys, _time_ms(parts))}
        latency = _time_ms([(build_mobilenetv3(a, space).eval(), (1, 3, a.resolution, a.resolution)) for a in archs])
    finally:
        torch.set_num_threads(threads)
    table = {"format": FORMAT, "device": "cpu-torch-t1-test", "space": space.name, "entries": entries}
    return space, table, archs, latency


@pytest.fixture
def cifar_lut_case():
    """(space, table dict, 20 archs (10 reference + 10), their measured latency in ms), once per session."""
    return _cifar_lut_case()
