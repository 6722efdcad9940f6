"""Per-part latency tables measured on a device (what a lookup-table latency predictor adds up).

>>> table = measure_lookup_table(get_device("cpu-ort-t1"), "ofa_mbv3_w1.2", resolutions=[160, 224])
>>> table.save("lut.json"); table = LatencyTable.load("lut.json")
>>> sum(table[p].median_ms for p in arch_parts(arch))   # the LUT estimate of a whole arch

The file format and :class:`LatencyTable` live in :mod:`nasedge.latency_table` (the ``lut`` predictor
reads the same files). :func:`measure_lookup_table_to_file` (``nasedge measure --table``) keeps each part as
it is measured in ``<out>.partial.jsonl`` and resumes from it, so a kill loses at most the part in flight (on a
device that interleaves a group of parts, the round in flight: :mod:`nasedge.measure.round_journal`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nasedge.atomic import durable_append
from nasedge.errors import NasedgeError
from nasedge.jsonlines import json_lines_text, read_appended_json_lines
from nasedge.latency_table import LatencyTable, PartLatency, is_part_latency
from nasedge.measure.protocol import LatencyStats
from nasedge.measure.round_journal import journal_in_use, open_journal
from nasedge.measure.workload import lookup_table_parts
from nasedge.writer_lock import locked_file

__all__ = ["LatencyTable", "measure_lookup_table", "measure_lookup_table_to_file"]

PARTIAL_FORMAT = "nasedge-latency-table-partial/1"


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
    return _table(device, space, parts, [s.median_ms for s in stats], [s.to_dict() for s in stats], nodes)


def _resolutions(parts: list) -> list[int]:
    return sorted({p.input_size for p in parts if p.kind == "stem"})


def _table(device, space: str, parts: list, medians: list[float], stats: list[dict], nodes: list[str]) -> LatencyTable:
    meta = {"resolutions": _resolutions(parts), "nodes": sorted(set(nodes)), "measure": device.config.measure,
            **({"settings": device.settings} if getattr(device, "settings", "") else {})}
    entries = {p.key: PartLatency(ms, st) for p, ms, st in zip(parts, medians, stats)}
    return LatencyTable(device.name, space, entries, meta)


def partial_path(out: str | Path) -> Path:
    """Where :func:`measure_lookup_table_to_file` keeps the parts measured so far for ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


def measure_lookup_table_to_file(device, space: str, out: str | Path, resolutions: Iterable[int] | None = None, *,
                                 ray_address: str | None = None,
                                 progress: Callable[[int, int], None] | None = None,
                                 warn: Callable[[str], None] | None = None) -> LatencyTable:
    """:func:`measure_lookup_table`, durable and resumable: the table is written to ``out`` (atomically) once
    every part is measured.

    Until then each part is appended to :func:`partial_path` as the device returns it (one write, fsync), under
    a header naming the device, space and resolutions; a rerun with the same ones measures only the parts
    missing there (a last line cut short by a kill is dropped: ``warn`` says so), another device, space or
    resolution set is refused in one line. ``progress(done, total)`` in parts.
    """
    with locked_file(out, "lookup table"):  # a second run would measure every part again beside this one
        return _measure_lookup_table_to_file(device, space, Path(out), resolutions, ray_address, progress, warn)


def _measure_lookup_table_to_file(device, space: str, out: Path, resolutions: Iterable[int] | None,
                                  ray_address: str | None, progress: Callable[[int, int], None] | None,
                                  warn: Callable[[str], None] | None) -> LatencyTable:
    partial = partial_path(out)
    parts = lookup_table_parts(space, resolutions)
    settings = getattr(device, "settings", "")
    header = {"format": PARTIAL_FORMAT, "device": device.name, "space": space, "resolutions": _resolutions(parts),
              **({"settings": settings} if settings else {})}
    if out.is_file() and not partial.is_file():  # finished earlier: the same table is returned, another refused
        done = LatencyTable.load(out)
        same = (done.device, done.space, done.meta.get("resolutions")) == (device.name, space, header["resolutions"])
        if same:  # this device's table: of its present settings, or refused
            _check_settings(out, done.meta.get("settings"), device.name, settings)
        if same and all(p.key in done for p in parts):
            if progress is not None:
                progress(len(parts), len(parts))
            return done
        what = (f"this table with {sum(p.key not in done for p in parts)} of its {len(parts)} parts missing" if same
                else f"another table (device {done.device!r}, space {done.space!r}, resolutions "
                     f"{done.meta.get('resolutions')})")
        raise NasedgeError(f"{out}: exists and holds {what}; choose another --out or move it away")
    have = _read_partial(partial, header, warn)
    wanted = {p.key for p in parts}
    have = {k: v for k, v in have.items() if k in wanted}
    todo = [p for p in parts if p.key not in have]
    if progress is not None:
        progress(len(parts) - len(todo), len(parts))
    if not partial.is_file() or partial.stat().st_size == 0:
        _append_lines(partial, [header])

    def chunk_done(start: int, stats: list[LatencyStats], node: str) -> None:
        chunk = todo[start:start + len(stats)]
        lines = [{"key": p.key, "median_ms": s.median_ms, "stats": s.to_dict(), "node": node}
                 for p, s in zip(chunk, stats)]
        _append_lines(partial, lines)
        have.update({line["key"]: line for line in lines})
        if progress is not None:
            progress(len(have), len(parts))

    # interleaved groups keep their rounds: a kill costs the round in flight
    journal = open_journal(out, device, [p.key for p in todo], warn=warn)
    with journal_in_use(journal):
        if todo:
            device.measure_workloads(todo, ray_address=ray_address, on_chunk=chunk_done, rounds=journal)
    rows = [have[p.key] for p in parts]
    table = _table(device, space, parts, [r["median_ms"] for r in rows], [r["stats"] for r in rows],
                   [r["node"] for r in rows])
    table.save(out)
    partial.unlink()
    return table


def _check_settings(path: Path, theirs: Any, device: str, settings: str) -> None:
    """A table (or its parts) measured under other settings of the device (its YAML edited since: another runtime,
    thread count, precision) is not this one's; one written before tables kept their settings is taken as it is."""
    if theirs and settings and theirs != settings:
        raise NasedgeError(f"{path}: was measured under other settings of device {device!r} ({theirs}, now "
                           f"{settings}: its YAML changed); move it away (or use another --out) to measure a new "
                           f"table")


def _append_lines(path: Path, docs: list[dict[str, Any]]) -> None:
    durable_append(path, json_lines_text(docs).encode())


def _read_partial(path: Path, header: dict, warn: Callable[[str], None] | None) -> dict[str, dict]:
    """The parts ``path`` holds, keyed by part; repairs a last line cut short; refuses another header."""
    out = {}

    def check(lineno: int, doc: Any) -> None:
        if lineno == 1:
            if not isinstance(doc, dict) or doc.get("format") != PARTIAL_FORMAT:
                raise NasedgeError(f"{path}:1: not a partial latency table (format {PARTIAL_FORMAT!r} expected)")
            for field in ("device", "space", "resolutions"):
                if doc.get(field) != header[field]:
                    raise NasedgeError(f"{path}: holds parts of {field} {doc.get(field)!r}, not {header[field]!r}; "
                                       f"move it away (or use another --out) to measure a new table")
            _check_settings(path, doc.get("settings"), header["device"], header.get("settings", ""))
            return
        ms = doc.get("median_ms") if isinstance(doc, dict) else None
        # the table's own rule, here: a bad line written into the table made it unreadable
        if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or not is_part_latency(ms) \
                or not isinstance(doc.get("stats", {}), dict):
            raise NasedgeError(f"{path}:{lineno}: a part needs 'key', 'median_ms' (a finite number of ms >= 0) "
                               f"and 'stats' (a mapping); move the file away to measure the table afresh")
        out[doc["key"]] = {"stats": {}, "node": "", **doc}

    read_appended_json_lines(path, "partial latency table", "the part in flight", warn, check)
    return out
