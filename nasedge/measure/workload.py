"""What a measurement times: a whole subnet (:class:`Subnet`) or one part of it (:class:`Part`).

Workloads are plain, picklable data (they travel to Ray nodes); the networks and files built from
them (a torch module, ONNX bytes, a TFLite flatbuffer) live in an :class:`Artifacts` cache that the
caller may share between devices, so that measuring one arch on several runtimes builds it once.

Parts are what a lookup-table latency predictor adds up (OFA's latency tables): the stem, the fixed
first block, one entry per (stage, first block of the stage or not, kernel, expand, input size), and
the head. Blocks after the first in a stage all have the same shape, so they share entries.
:func:`arch_parts` decomposes an arch; :func:`lookup_table_parts` lists every part of a space.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nasedge.arch import Arch
from nasedge.errors import NasedgeError

PART_KINDS = ("stem", "first_block", "block", "head")


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


def _space(name: str):
    from nasedge.spaces import get_space

    space = get_space(name)
    if space.family != "ofa_mbv3":
        raise NasedgeError(f"search space {name!r}: measuring family {space.family!r} is not supported")
    return space


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
    """One part of an OFA-MobileNetV3 subnet at a given input size (pixels per side).

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
        if self.kind not in PART_KINDS:
            raise NasedgeError(f"part kind {self.kind!r} is not valid; known: {', '.join(PART_KINDS)}")

    @property
    def key(self) -> str:
        if self.kind == "block":
            pos = "first" if self.first else "rest"
            return f"block:s{self.stage}:{pos}:k{self.kernel}:e{self.expand}:in{self.input_size}"
        return f"{self.kind}:in{self.input_size}"

    @classmethod
    def from_key(cls, space: str, key: str) -> Part:
        """Inverse of :attr:`key` (for tables stored as JSON)."""
        fields = key.split(":")
        try:
            if fields[0] == "block":
                _, s, pos, k, e, size = fields
                return cls(space, "block", int(size[2:]), int(s[1:]), pos == "first", int(k[1:]), int(e[1:]))
            kind, size = fields
            return cls(space, kind, int(size[2:]))
        except (ValueError, IndexError):
            raise NasedgeError(f"part key {key!r} is not valid") from None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        space = _space(self.space)
        if self.kind == "stem":
            channels = 3
        elif self.kind == "first_block":
            channels = space.stem_width
        elif self.kind == "head":
            channels = space.stages[-1].width
        else:
            channels = _slot(space, self).in_channels
        return (channels, self.input_size, self.input_size)

    def build(self) -> Any:
        from nasedge.nn import mobilenetv3 as mb

        space = _space(self.space)
        if self.kind == "stem":
            module = mb.stem(space)
        elif self.kind == "first_block":
            module = mb.first_block(space)
        elif self.kind == "head":
            module = mb.head(space)
        else:
            s = _slot(space, self)
            hidden = space.hidden_channels(s.in_channels, self.expand)
            module = mb.MBConv(s.in_channels, s.out_channels, hidden, self.kernel, s.stride, s.act,
                               space.se_channels(hidden) if s.se else 0)
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


def _slot(space, part: Part):
    return space.slots()[part.stage * space.max_depth + (0 if part.first else 1)]


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1  # odd kernels with padding k // 2


def arch_parts(arch: Arch, space=None) -> list[Part]:
    """The parts whose latencies a lookup table adds up for ``arch``, in network order."""
    space = space or _space(arch.space)
    arch = space.validate(arch)
    slots = space.slots()
    parts = [Part(space.name, "stem", arch.resolution)]
    size = _out(arch.resolution, space.stem_stride)
    parts.append(Part(space.name, "first_block", size))
    size = _out(size, space.first_block_stride)
    for b in arch.active_blocks():
        parts.append(Part(space.name, "block", size, b.stage, b.index == 0, b.kernel, b.expand))
        size = _out(size, slots[b.slot].stride)
    parts.append(Part(space.name, "head", size))
    return parts


def lookup_table_parts(space_name: str, resolutions: Iterable[int] | None = None) -> list[Part]:
    """Every distinct part of the space's archs at ``resolutions`` (default: all of the space's)."""
    space = _space(space_name)
    resolutions = list(space.resolutions if resolutions is None else resolutions)
    bad = [r for r in resolutions if r not in space.resolutions]
    if bad:
        raise NasedgeError(f"resolution {bad[0]} is not in space {space.name} ({space.resolutions[0]}.."
                           f"{space.resolutions[-1]})")
    seen: dict[Part, None] = {}
    for r in resolutions:
        size = _out(_out(r, space.stem_stride), space.first_block_stride)
        seen[Part(space.name, "stem", r)] = None
        seen[Part(space.name, "first_block", _out(r, space.stem_stride))] = None
        for stage_index, stage in enumerate(space.stages):
            after = _out(size, stage.stride)  # the stage's first block strides; the others see its output
            for first, input_size in ((True, size), (False, after)):
                for k in space.kernel_choices:
                    for e in space.expand_choices:
                        seen[Part(space.name, "block", input_size, stage_index, first, k, e)] = None
            size = after
        seen[Part(space.name, "head", size)] = None
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

