"""What a measurement times: a whole subnet (:class:`Subnet`) or one part of it (:class:`Part`).

Workloads are plain, picklable data (they travel to Ray nodes); the networks and files built from
them (a torch module, ONNX bytes, a TFLite flatbuffer) live in an :class:`Artifacts` cache that the
caller may share between devices, so that measuring one arch on several runtimes builds it once.

Parts are what a lookup-table latency predictor adds up (OFA's latency tables): the layers of the
space's layer walk (:meth:`~nasedge.spaces.base.SearchSpace.layers`), one entry per distinct
:attr:`~nasedge.spaces.base.Layer.key`. :func:`arch_parts` decomposes an arch; :func:`lookup_table_parts`
lists every part of a space.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.spaces.base import LAYER_KINDS, Layer, SearchSpace, parse_part_key, part_key


class Workload(abc.ABC):
    """A network to time, given as data."""

    @property
    @abc.abstractmethod
    def key(self) -> str:
        """A short stable identifier (cache key, log label)."""

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample: (channels, height, width)."""

    @abc.abstractmethod
    def build(self) -> Any:
        """A freshly initialised ``torch.nn.Module`` in eval mode (random weights are fine for latency)."""


def _space(name: str) -> SearchSpace:
    from nasedge.spaces import get_space

    return get_space(name)


@dataclass(frozen=True)
class Subnet(Workload):
    """A whole static subnet of ``arch`` (at the arch's resolution)."""

    arch: Arch

    @property
    def key(self) -> str:
        return self.arch.digest()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.arch.resolution, self.arch.resolution)

    def build(self) -> Any:
        from nasedge.nn.mobilenetv3 import build_mobilenetv3

        return build_mobilenetv3(self.arch, _space(self.arch.space)).eval()


@dataclass(frozen=True)
class Part(Workload):
    """One part of a subnet of space ``space`` at a given input size (pixels per side): the identity of a
    :class:`~nasedge.spaces.base.Layer` (:attr:`layer`).

    ``stage``, ``first``, ``kernel`` and ``expand`` are set for ``kind="block"`` only; ``first`` tells
    the first block of a stage (which may change width and stride) from the others.
    """

    space: str
    kind: str
    input_size: int
    stage: int = -1
    first: bool = False
    kernel: int = 0
    expand: int = 0

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise NasedgeError(f"part kind {self.kind!r} is not valid; known: {', '.join(LAYER_KINDS)}")

    @classmethod
    def of(cls, space: str, layer: Layer) -> Part:
        """The part that times ``layer`` of space ``space``."""
        return cls(space, **layer.identity)

    @property
    def key(self) -> str:
        return part_key(self.kind, self.input_size, self.stage, self.first, self.kernel, self.expand)

    @classmethod
    def from_key(cls, space: str, key: str) -> Part:
        """Inverse of :attr:`key` (for tables stored as JSON)."""
        return cls(space, **parse_part_key(key))

    @property
    def layer(self) -> Layer:
        """The layer this part times (its geometry, from the space's walk)."""
        return _space(self.space).layer(self.kind, self.input_size, self.stage, self.first, self.kernel,
                                        self.expand)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.layer.in_channels, self.input_size, self.input_size)

    def build(self) -> Any:
        from nasedge.nn import mobilenetv3 as mb

        module = mb.build_layer(self.layer)  # eval mode: the head's dropout rate does not matter
        mb.init_weights(module)
        return module.eval()


@dataclass(frozen=True)
class Probe(Workload):
    """A fixed small network (three MobileNet blocks at ``size`` x ``size``) that a measurer times
    between measurements to tell whether the machine runs at its usual speed (``MachineCheck``).

    The default is sensitive to the slow state of this project's VM: with two threads it runs 1.5x
    slower there, like OFA subnets (1.5-1.7x), while blocks on maps of 7-28 px with 64-240 channels
    do not slow down at all (experiments/latency_datasets/README.md).
    """

    channels: int = 48
    size: int = 56

    @property
    def key(self) -> str:
        return f"probe:c{self.channels}:in{self.size}"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def build(self) -> Any:
        import torch

        from nasedge.nn import mobilenetv3 as mb

        c = self.channels
        module = torch.nn.Sequential(*[mb.MBConv(c, c, 4 * c, 5, 1, "relu", 0) for _ in range(3)])
        mb.init_weights(module)
        return module.eval()


def arch_parts(arch: Arch, space: SearchSpace | None = None) -> list[Part]:
    """The parts whose latencies a lookup table adds up for ``arch``, in network order."""
    space = space or _space(arch.space)
    return [Part.of(space.name, layer) for layer in space.layers(arch)]


def check_resolutions(space_name: str, resolutions: Iterable[int]) -> None:
    """Each of ``resolutions`` is an input size of the space's archs (else one line naming the first that is not)."""
    space = _space(space_name)
    bad = [r for r in resolutions if r not in space.resolutions]
    if bad:
        raise NasedgeError(f"resolution {bad[0]} is not in space {space.name} "
                           f"({', '.join(map(str, space.resolutions))})")  # a range would suggest every size between


def lookup_table_parts(space_name: str, resolutions: Iterable[int] | None = None) -> list[Part]:
    """Every distinct part of the space's archs at ``resolutions`` (default: all of the space's)."""
    space = _space(space_name)
    resolutions = list(space.resolutions if resolutions is None else resolutions)
    check_resolutions(space_name, resolutions)
    seen = {Part.of(space.name, layer): None
            for r in resolutions for options in space.layer_choices(r) for layer in options}
    return list(seen)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    # Building and exporting small networks gains nothing from more threads, and on a shared machine
    # OpenMP's barriers make 2 threads 7x slower than 1 (ONNX export of an OFA subnet: 4.4 s vs 0.6 s).
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class Artifacts:
    """Per-workload cache of what runtimes build (module, ONNX bytes, ...); share it between devices."""

    def __init__(self) -> None:
        self._items: dict[tuple, Any] = {}

    def get(self, workload: Workload, what: str, make: Callable[[], Any]) -> Any:
        key = (workload, what)  # workloads are frozen dataclasses: hashable by value
        if key not in self._items:
            with _one_torch_thread():
                self._items[key] = make()
        return self._items[key]

    def model(self, workload: Workload) -> Any:
        """The workload's torch module (fp32, CPU, eval mode; callers copy it before changing it)."""
        return self.get(workload, "model", workload.build)

    def onnx(self, workload: Workload, batch: int) -> bytes:
        from nasedge.export.onnx import onnx_bytes

        def make() -> bytes:
            c, size, _ = workload.input_shape
            return onnx_bytes(self.model(workload), size, batch, dynamic_batch=False, channels=c)

        return self.get(workload, f"onnx:b{batch}", make)

    def clear(self) -> None:
        self._items.clear()

