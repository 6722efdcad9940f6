"""Fixtures: the latency samples shipped in latency_predictors/data, and a lookup table and whole-arch
latencies measured for real on this machine's CPU (PyTorch, one thread) for the tiny CIFAR space."""

from __future__ import annotations

import functools
import statistics
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


def _time_ms(module, shape, repeats: int = 15) -> float:
    import torch

    x = torch.randn(*shape)
    with torch.inference_mode():
        for _ in range(3):
            module(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            module(x)
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


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
    from nasedge.predict.profile import spread_archs
    from nasedge.spaces import get_space

    space = get_space("ofa_mbv3_cifar")
    archs = spread_archs(get_encoding(space), 16, pool=400, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        entries = {}
        for key in sorted({k for a in archs for k in part_keys(a, space)}):
            module, shape = _part_module(space, key)
            init_weights(module)
            entries[key] = {"median_ms": _time_ms(module.eval(), shape)}
        latency = np.array([_time_ms(build_mobilenetv3(a, space).eval(), (1, 3, a.resolution, a.resolution))
                            for a in archs])
    finally:
        torch.set_num_threads(threads)
    table = {"format": FORMAT, "device": "cpu-torch-t1-test", "space": space.name, "entries": entries}
    return space, table, archs, latency


@pytest.fixture
def cifar_lut_case():
    """(space, table dict, 16 archs, their measured latency in ms), measured once per session."""
    return _cifar_lut_case()
