"""Per-part latency tables measured on a device (what a lookup-table latency predictor adds up).

>>> table = measure_lookup_table(get_device("cpu-ort-t1"), "ofa_mbv3_w1.2", resolutions=[160, 224])
>>> table.save("lut.json"); table = LatencyTable.load("lut.json")
>>> sum(table[p].median_ms for p in arch_parts(arch))   # the LUT estimate of a whole arch

The file format and :class:`LatencyTable` live in :mod:`nasedge.latency_table` (the ``lut`` predictor
reads the same files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nasedge.latency_table import LatencyTable, PartLatency
from nasedge.measure.protocol import LatencyStats
from nasedge.measure.workload import lookup_table_parts

__all__ = ["LatencyTable", "measure_lookup_table"]


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
    entries = {p.key: PartLatency(s.median_ms, s.to_dict()) for p, s in zip(parts, stats)}
    return LatencyTable(device.name, space, entries, meta)
