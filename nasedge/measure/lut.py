"""Per-part latency tables measured on a device (what a lookup-table latency predictor adds up).

>>> table = measure_lookup_table(get_device("cpu-ort-t1"), "ofa_mbv3_w1.2", resolutions=[160, 224])
>>> table.save("lut.json"); table = LatencyTable.load("lut.json")
>>> sum(table[p].median_ms for p in arch_parts(arch))   # the LUT estimate of a whole arch
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.measure.protocol import LatencyStats
from nasedge.measure.workload import Part, lookup_table_parts

FORMAT = "nasedge-latency-table/1"


@dataclass(frozen=True)
class LatencyTable:
    """Latency statistics per :class:`Part` of one space on one device."""

    device: str
    space: str
    entries: Mapping[Part, LatencyStats]
    meta: Mapping[str, Any]

    def __getitem__(self, part: Part) -> LatencyStats:
        try:
            return self.entries[part]
        except KeyError:
            raise NasedgeError(f"latency table of {self.device}: no entry for part {part.key} "
                               f"(measure the table at this resolution)") from None

    def __contains__(self, part: Part) -> bool:
        return part in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def save(self, path: str | Path) -> None:
        doc = {"format": FORMAT, "device": self.device, "space": self.space, "meta": dict(self.meta),
               "entries": {p.key: s.to_dict() for p, s in self.entries.items()}}
        atomic_write_text(path, json.dumps(doc, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise NasedgeError(f"{path}: no such latency table") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise NasedgeError(f"{path}: not a JSON latency table") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise NasedgeError(f"{path}: field 'format': expected {FORMAT!r}")
        try:
            entries = {Part.from_key(doc["space"], k): LatencyStats(**v) for k, v in doc["entries"].items()}
        except (KeyError, TypeError) as exc:
            raise NasedgeError(f"{path}: malformed latency table ({exc})") from None
        return cls(doc["device"], doc["space"], entries, doc.get("meta", {}))


def measure_lookup_table(device, space: str, resolutions: Iterable[int] | None = None, *,
                         ray_address: str | None = None,
                         progress: Callable[[int, int], None] | None = None) -> LatencyTable:
    """Measure every part of ``space``'s archs at ``resolutions`` (default all) on ``device``.

    ``device`` is a :class:`~nasedge.measure.device.Device` (local or Ray-routed); ``progress(done, total)``.
    """
    parts = lookup_table_parts(space, resolutions)
    done = 0

    def chunk_done(start: int, stats: list[LatencyStats], node: str) -> None:
        nonlocal done
        done += len(stats)
        if progress is not None:
            progress(done, len(parts))

    stats, nodes = device.measure_workloads(parts, ray_address=ray_address, on_chunk=chunk_done)
    meta = {"resolutions": sorted({p.input_size for p in parts if p.kind == "stem"}),
            "nodes": sorted(set(nodes)), "measure": device.config.measure}
    return LatencyTable(device.name, space, dict(zip(parts, stats)), meta)
