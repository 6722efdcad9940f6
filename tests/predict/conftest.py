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


def _part_module(space, key: str):
    """A fresh module for a part key of nasedge.predict.lut.part_keys, and its input shape."""
    from nasedge.nn import mobilenetv3 as mb

    fields = key.split(":")
    size = int(fields[-1][2:])
    if fields[0] == "stem":
        return mb.stem(space), (1, 3, size, size)
    if fields[0] == "first_block":
        return mb.first_block(space), (1, space.stem_width, size, size)
    if fields[0] == "head":
        return mb.head(space), (1, space.stages[-1].width, size, size)
    _, s, pos, k, e = fields[:5]
    slot = space.slots()[int(s[1:]) * space.max_depth + (0 if pos == "first" else 1)]
    hidden = space.hidden_channels(slot.in_channels, int(e[1:]))
    module = mb.MBConv(slot.in_channels, slot.out_channels, hidden, int(k[1:]), slot.stride, slot.act,
                       space.se_channels(hidden) if slot.se else 0)
    return module, (1, slot.in_channels, size, size)


@functools.lru_cache(maxsize=None)
def _cifar_lut_case():
    import torch

    from nasedge.nn.mobilenetv3 import build_mobilenetv3, init_weights
    from nasedge.predict.encodings import get_encoding
    from nasedge.predict.lut import FORMAT, part_keys
    from nasedge.predict.profile import reference_archs, spread_archs
    from nasedge.spaces import get_space

    space = get_space("ofa_mbv3_cifar")
    # what a new device measures: the 10 reference archs, then 10 more
    archs = reference_archs(space) + spread_archs(get_encoding(space), 10, pool=400, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        keys = sorted({k for a in archs for k in part_keys(a, space)})
        parts = [_part_module(space, k) for k in keys]
        for m, _ in parts:
            init_weights(m)
            m.eval()
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
