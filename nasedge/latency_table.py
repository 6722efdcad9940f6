"""The lookup-table file format ``nasedge-latency-table/1``: latency per part of one space on one device.

Measurement writes tables (:func:`nasedge.measure.lut.measure_lookup_table`), the ``lut`` latency
predictor reads them; both go through :class:`LatencyTable`. Keys are the parts' keys
(:attr:`nasedge.spaces.base.Layer.key`)::

    {"format": "nasedge-latency-table/1", "device": "cpu-ort-t1", "space": "ofa_mbv3_cifar",
     "meta": {"resolutions": [32], ...},
     "entries": {"stem:in32": {"median_ms": 0.021, ...}, "block:s0:first:k3:e4:in32": {...}, ...}}

An entry is the measured statistics (at least ``median_ms``) or a plain number of milliseconds;
``meta`` is optional.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError, is_real, read_text_file

FORMAT = "nasedge-latency-table/1"


@dataclass(frozen=True)
class PartLatency:
    """The latency of one part: its median (ms) and everything the measurement reported (may be empty)."""

    median_ms: float
    stats: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Any:
        return dict(self.stats) if self.stats else self.median_ms


@dataclass(frozen=True)
class LatencyTable:
    """Latency of every part (by key) of one space's networks on one device."""

    device: str
    space: str
    entries: Mapping[str, PartLatency] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, part: Any) -> PartLatency:
        """The entry of ``part``: a key, or anything with a ``key`` (a layer, a measured part)."""
        key = part if isinstance(part, str) else part.key
        try:
            return self.entries[key]
        except KeyError:
            raise NasedgeError(f"latency table of {self.device}: no entry for part {key} "
                               f"(measure the table at this resolution)") from None

    def __contains__(self, part: Any) -> bool:
        return (part if isinstance(part, str) else part.key) in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def medians(self) -> LatencyTable:
        """The same table with the median of each part only (what a lookup-table predictor keeps)."""
        return LatencyTable(self.device, self.space, {k: PartLatency(e.median_ms) for k, e in self.entries.items()})

    # --- file format ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": FORMAT, "device": self.device, "space": self.space}
        if self.meta:
            doc["meta"] = dict(self.meta)
        doc["entries"] = {k: e.to_json() for k, e in self.entries.items()}
        return doc

    @classmethod
    def from_dict(cls, doc: Any, source: str | None = None) -> LatencyTable:
        where = f"{source}: " if source else ""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise NasedgeError(f"{where}field 'format': expected {FORMAT!r} (a latency table)")
        if not isinstance(doc.get("entries"), dict):
            raise NasedgeError(f"{where}field 'entries': expected a mapping of part keys to latencies")
        meta = doc.get("meta", {})
        if not isinstance(meta, dict):
            raise NasedgeError(f"{where}field 'meta': expected a mapping")
        for name in ("device", "space"):
            if not isinstance(doc.get(name, ""), str):
                raise NasedgeError(f"{where}field {name!r}: value {doc[name]!r} is not valid; expected a name")
        entries = {}
        for key, v in doc["entries"].items():
            ms = v.get("median_ms") if isinstance(v, dict) else v
            if not is_part_latency(ms):  # infinity broke the calibration's least squares
                raise NasedgeError(f"{where}field 'entries.{key}': latency {ms!r} is not valid; expected a finite "
                                   f"number of ms >= 0")
            entries[str(key)] = PartLatency(float(ms), dict(v) if isinstance(v, dict) else {})
        return cls(doc.get("device", ""), doc.get("space", ""), entries, meta)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        text = read_text_file(path, "a latency table file (JSON)", missing="no such latency table")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return cls.from_dict(doc, str(path))


def is_part_latency(value: Any) -> bool:
    """Whether ``value`` is a part's latency as a table holds it: a finite number of ms >= 0."""
    return 0 <= _finite(value) < math.inf


def _finite(value: Any) -> float:
    """``value`` as a float, NaN where it is no number (a bool, a str) or too large for one."""
    if not is_real(value):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer of 400 digits
        return math.nan
