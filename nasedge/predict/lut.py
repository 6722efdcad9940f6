"""``lut``: per-part latency lookup table measured on the device (as in OFA), linearly calibrated.

A table holds the measured latency of every part an arch can contain: the stem, the fixed first
block, each (stage, first-or-rest block, kernel, expand, input size), and the head. An arch's table
latency is the sum over its parts; a linear calibration on the target's samples then absorbs what a
sum of isolated parts misses (framework overhead, caches, fusion across blocks).

Tables are the files written by the measurement part (``nasedge.measure.lut``, format
``nasedge-latency-table/1``)::

    {"format": "nasedge-latency-table/1", "device": "cpu-ort-t1", "space": "ofa_mbv3_cifar",
     "entries": {"stem:in32": {"median_ms": 0.021, ...}, "block:s0:first:k3:e4:in32": {...}, ...}}

Only ``median_ms`` of each entry is used; entries may also be plain numbers (milliseconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.predict.base import LatencyPredictor, PredictorConfig
from nasedge.predict.calibration import fit_linear
from nasedge.predict.encodings.ofa import OFAEncoding
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

FORMAT = "nasedge-latency-table/1"


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def part_keys(arch: Arch, space: OFAMobileNetV3Space) -> list[str]:
    """Table keys of the parts of ``arch`` in network order (the keys of ``nasedge.measure``'s parts)."""
    arch = space.validate(arch)
    keys = [f"stem:in{arch.resolution}"]
    size = _out(arch.resolution, space.stem_stride)
    keys.append(f"first_block:in{size}")
    size = _out(size, space.first_block_stride)
    slots = space.slots()
    for b in arch.active_blocks():
        pos = "first" if b.index == 0 else "rest"
        keys.append(f"block:s{b.stage}:{pos}:k{b.kernel}:e{b.expand}:in{size}")
        size = _out(size, slots[b.slot].stride)
    keys.append(f"head:in{size}")
    return keys


@dataclass(frozen=True)
class LookupTable:
    """Latency (ms) per part key, of one space on one device."""

    device: str
    space: str
    entries: Mapping[str, float] = field(default_factory=dict)

    def arch_latency(self, arch: Arch, space: OFAMobileNetV3Space) -> float:
        total = 0.0
        for key in part_keys(arch, space):
            if key not in self.entries:
                raise NasedgeError(f"lookup table of device {self.device!r} has no entry {key!r} "
                                   f"(measure the table at resolution {arch.resolution})")
            total += self.entries[key]
        return total

    @classmethod
    def from_dict(cls, doc: Any, source: str | None = None) -> LookupTable:
        where = f"{source}: " if source else ""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise NasedgeError(f"{where}field 'format': expected {FORMAT!r} (a latency table)")
        if not isinstance(doc.get("entries"), dict):
            raise NasedgeError(f"{where}field 'entries': expected a mapping of part keys to latencies")
        entries = {}
        for key, v in doc["entries"].items():
            ms = v.get("median_ms") if isinstance(v, dict) else v
            if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms >= 0:
                raise NasedgeError(f"{where}field 'entries.{key}': latency {ms!r} is not valid; "
                                   f"expected ms >= 0")
            entries[str(key)] = float(ms)
        return cls(str(doc.get("device", "")), str(doc.get("space", "")), entries)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "device": self.device, "space": self.space, "entries": dict(self.entries)}

    @classmethod
    def load(cls, path: str | Path) -> LookupTable:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise NasedgeError(f"{path}: no such latency table") from None
        try:
            return cls.from_dict(json.loads(text), str(path))
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                               f"{exc.msg}") from None


class LUTPredictor(LatencyPredictor):
    """Sum of table latencies, calibrated ``a * sum + b`` on the target's samples.

    Option ``table``: a :class:`LookupTable`, its dict, or a table file; saved inline by ``to_dict``
    so that a device profile does not depend on the file staying where it was.
    """

    name = "lut"
    min_samples = 1

    @dataclass
    class Config(PredictorConfig):
        name: str = "lut"
        table: Optional[str] = None  # latency table file measured on the device (nasedge.measure)

    def __init__(self, space, table: LookupTable | dict | str | Path | None = None, **options: Any):
        if table is None:
            raise NasedgeError("predictor 'lut' needs a latency table measured on the device "
                               "(option table=FILE)")
        if isinstance(table, (str, Path)):
            table = LookupTable.load(table)
        elif isinstance(table, dict):
            table = LookupTable.from_dict(table)
        super().__init__(space, table=table.to_dict(), **options)
        if not isinstance(self.encoding, OFAEncoding):
            raise NasedgeError(f"predictor 'lut' needs an OFA-family space, not {self.encoding.name!r}")
        if table.space and table.space != self.encoding.name:
            raise NasedgeError(f"latency table of space {table.space!r} cannot predict space "
                               f"{self.encoding.name!r}")
        self.table = table

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
