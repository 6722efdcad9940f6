"""``lut``: per-block latency lookup table measured on the device (as in OFA), linearly calibrated.

A table maps every distinct operation an arch can contain (stem, first block, each inverted
bottleneck configuration at each input size, head) to its measured latency on one device. An arch's
table latency is the sum over its operations; a linear calibration on the target's samples then
absorbs what a sum of isolated blocks misses (framework overhead, caches, fusion across blocks).

Table file (JSON)::

    {"format": 1, "device": "cpu-ort-t1", "space": "ofa_mbv3_cifar", "unit": "ms",
     "entries": {"stem:3-16-s1@32": 0.021, "mbconv:16-24-48-k3-s1-relu-se0@32": 0.094, ...}}

Keys are built by :func:`op_key` from an operation's shape, so a table can be shared by spaces with
the same blocks. :func:`space_ops` lists what a device has to measure; :func:`measure_table` builds
a table with a caller-supplied timing function (the measurement part of nasedge supplies the real
runtimes; any ``time_module(module, input_shape) -> ms`` works).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.predict.base import LatencyPredictor
from nasedge.predict.calibration import fit_linear
from nasedge.predict.encodings.ofa import OFAEncoding
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

FORMAT = 1


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def op_key(spec: dict[str, Any]) -> str:
    """The table key of an operation spec (see :func:`arch_ops`)."""
    op = spec["op"]
    if op == "stem":
        return f"stem:3-{spec['cout']}-s{spec['stride']}@{spec['size']}"
    if op == "first_block":
        return f"first:{spec['cin']}-{spec['cout']}-s{spec['stride']}@{spec['size']}"
    if op == "mbconv":
        return (f"mbconv:{spec['cin']}-{spec['cout']}-{spec['hidden']}-k{spec['kernel']}-s{spec['stride']}"
                f"-{spec['act']}-se{spec['se']}@{spec['size']}")
    if op == "head":
        return f"head:{spec['cin']}-{spec['final_expand']}-{spec['feature_mix']}-{spec['classes']}@{spec['size']}"
    raise ValueError(f"unknown op {op!r}")


def arch_ops(arch: Arch, space: OFAMobileNetV3Space) -> list[dict[str, Any]]:
    """The operations of ``arch`` in network order, as specs (``op``, shapes, input ``size``)."""
    arch = space.validate(arch)
    ops: list[dict[str, Any]] = [{"op": "stem", "cout": space.stem_width, "stride": space.stem_stride,
                                  "size": arch.resolution}]
    size = _out(arch.resolution, space.stem_stride)
    ops.append({"op": "first_block", "cin": space.stem_width, "cout": space.first_block_width,
                "stride": space.first_block_stride, "size": size})
    size = _out(size, space.first_block_stride)
    slots = space.slots()
    for b in arch.active_blocks():
        s = slots[b.slot]
        hidden = space.hidden_channels(s.in_channels, b.expand)
        ops.append({"op": "mbconv", "cin": s.in_channels, "cout": s.out_channels, "hidden": hidden,
                    "kernel": b.kernel, "stride": s.stride, "act": s.act,
                    "se": space.se_channels(hidden) if s.se else 0, "size": size})
        size = _out(size, s.stride)
    ops.append({"op": "head", "cin": space.stages[-1].width, "final_expand": space.final_expand_width,
                "feature_mix": space.feature_mix_width, "classes": space.num_classes, "size": size})
    return ops


def space_ops(space: OFAMobileNetV3Space, resolutions: Iterable[int] | None = None) -> dict[str, dict[str, Any]]:
    """Every distinct operation of the space's archs (at ``resolutions``, default all): key -> spec."""
    out: dict[str, dict[str, Any]] = {}
    for r in resolutions if resolutions is not None else space.resolutions:
        sub = space.restrict(resolution=[r])
        # the largest arch runs every slot position; each position's choices are then enumerated
        base = sub.max_arch()
        for k in space.kernel_choices:
            for e in space.expand_choices:
                arch = Arch(space.name, [k] * space.num_slots, [e] * space.num_slots, base.depth, r)
                for spec in arch_ops(arch, space):
                    out.setdefault(op_key(spec), spec)
    return out


@dataclass(frozen=True)
class LookupTable:
    """Measured latency (ms) of operations on one device."""

    device: str
    space: str
    entries: dict[str, float] = field(default_factory=dict)

    def arch_latency(self, arch: Arch, space: OFAMobileNetV3Space) -> float:
        total = 0.0
        for spec in arch_ops(arch, space):
            key = op_key(spec)
            if key not in self.entries:
                raise NasedgeError(f"lookup table of device {self.device!r} has no entry {key!r}; measure "
                                   f"the space's operations (nasedge.predict.lut.space_ops) at this resolution")
            total += self.entries[key]
        return total

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "device": self.device, "space": self.space, "unit": "ms",
                           "entries": self.entries}, indent=1)

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> LookupTable:
        where = f"{source}: " if source else ""
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            raise NasedgeError(f"{where}expected a lookup table object with an 'entries' mapping")
        if data.get("format", FORMAT) != FORMAT or data.get("unit", "ms") != "ms":
            raise NasedgeError(f"{where}unsupported lookup table format {data.get('format')!r} / unit "
                               f"{data.get('unit')!r}; expected format {FORMAT} in ms")
        entries = {}
        for k, v in data["entries"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise NasedgeError(f"{where}field 'entries.{k}': value {v!r} is not valid; expected a latency >= 0")
            entries[str(k)] = float(v)
        return cls(str(data.get("device", "")), str(data.get("space", "")), entries)

    @classmethod
    def load(cls, path: str | Path) -> LookupTable:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise NasedgeError(f"{path}: no such lookup table file") from None
        try:
            return cls.from_dict(json.loads(text), str(path))
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")


def build_op(spec: dict[str, Any]):
    """A fresh PyTorch module for an operation spec, and its input shape (batch 1)."""
    from nasedge.nn.mobilenetv3 import ConvBNAct, Head, MBConv

    op, size = spec["op"], spec["size"]
    if op == "stem":
        return ConvBNAct(3, spec["cout"], 3, spec["stride"], act="h_swish"), (1, 3, size, size)
    if op == "first_block":
        return MBConv(spec["cin"], spec["cout"], None, 3, spec["stride"], "relu"), (1, spec["cin"], size, size)
    if op == "mbconv":
        m = MBConv(spec["cin"], spec["cout"], spec["hidden"], spec["kernel"], spec["stride"], spec["act"], spec["se"])
        return m, (1, spec["cin"], size, size)
    if op == "head":
        m = Head(spec["cin"], spec["final_expand"], spec["feature_mix"], spec["classes"], 0.0)
        return m, (1, spec["cin"], size, size)
    raise ValueError(f"unknown op {op!r}")


def measure_table(device: str, space: OFAMobileNetV3Space, time_module: Callable[[Any, tuple], float],
                  resolutions: Sequence[int] | None = None) -> LookupTable:
    """Measure every operation of ``space`` with ``time_module(module, input_shape) -> ms``."""
    entries = {}
    for key, spec in space_ops(space, resolutions).items():
        module, shape = build_op(spec)
        entries[key] = float(time_module(module.eval(), shape))
    return LookupTable(device, space.name, entries)


class LUTPredictor(LatencyPredictor):
    """Sum of table latencies, calibrated ``a * sum + b`` on the target's samples.

    Option ``table``: a :class:`LookupTable`, its JSON dict, or the path of its file.
    """

    name = "lut"
    min_samples = 1

    def __init__(self, space, table: LookupTable | dict | str | Path | None = None, **options: Any):
        if table is None:
            raise NasedgeError("predictor 'lut' needs a lookup table measured on the device (option table=FILE)")
        if isinstance(table, (str, Path)):
            loaded, table_opt = LookupTable.load(table), str(table)
        elif isinstance(table, LookupTable):
            loaded, table_opt = table, json.loads(table.to_json())
        else:
            loaded, table_opt = LookupTable.from_dict(table), table
        super().__init__(space, table=table_opt, **options)
        if not isinstance(self.encoding, OFAEncoding):
            raise NasedgeError(f"predictor 'lut' needs an OFA-family space, not {self.encoding.name!r}")
        self.table = loaded

    def table_latency(self, items: list) -> np.ndarray:
        return np.array([self.table.arch_latency(a, self.encoding.space) for a in items])

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        self.slope, self.intercept = fit_linear(self.table_latency(items), latency_ms)

    def _predict(self, items: list) -> np.ndarray:
        return self.slope * self.table_latency(items) + self.intercept

    def _state(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.slope, self.intercept = float(state["slope"]), float(state["intercept"])
