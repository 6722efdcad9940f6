"""Measuring and writing our own latency datasets (the format of DESIGN.md).

A dataset directory holds ``archs.jsonl`` (``arch_id`` + the arch's fields per line), optionally
``reference_archs.json``, one detailed measurements CSV per device in ``measurements/<device>.csv``
(median, p90, spread, noise flag, where it ran), how each device was measured in
``measurements/<device>.json``, and ``latency_ms.csv`` (``arch_id,<device>,...``: the medians),
which :func:`assemble_latency_csv` rebuilds from the measurement files. Devices measured on
different machines are merged by copying their ``measurements/`` files into one directory.

:func:`measure_dataset` fills a dataset in: the archs of ``archs.jsonl`` on several devices, in
interleaved groups, each arch's row appended to its device's file as soon as it is measured (a kill
loses at most the arch in flight, or of an interleaved group the round in flight: its rounds are kept in a
round journal until its rows are written), resuming from what is already there; each device's file is
rewritten once at the end in the dataset's order. The arch is built once per group for all devices
(shared :class:`Artifacts`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nasedge.arch import read_archs_jsonl
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.measure.measurement import (Measurement, append_measurement, open_for_append, read_measurements_csv,
                                         write_measurements_csv)
from nasedge.measure.round_journal import arch_key, journal_in_use, open_journal
from nasedge.measure.workload import Artifacts


def reference_first_order(directory: str | Path) -> list[str]:
    """The dataset's arch ids with its reference archs first (a predictor's hardware embedding needs them)."""
    directory = Path(directory)
    ids = [i for i, _ in read_archs_jsonl(directory / "archs.jsonl")]
    path = directory / "reference_archs.json"
    refs = [str(i) for i in json.loads(path.read_text())] if path.is_file() else []
    missing = [r for r in refs if r not in ids]
    if missing:
        raise NasedgeError(f"{path}: reference arch {missing[0]} is not in archs.jsonl")
    return refs + [i for i in ids if i not in refs]


def assemble_latency_csv(directory: str | Path, devices: Sequence[str] | None = None) -> Path:
    """Rebuild ``latency_ms.csv`` (median per arch and device) from ``measurements/*.csv``.

    Rows follow ``archs.jsonl``; a device's cell is empty where it has no measurement of that arch.
    A measurement whose arch differs from the dataset's arch of the same id is an error.
    """
    directory = Path(directory)
    rows = read_archs_jsonl(directory / "archs.jsonl")
    by_id = dict(rows)
    files = sorted((directory / "measurements").glob("*.csv"))
    if devices is not None:
        files = [f for f in files if f.stem in devices]
    columns: dict[str, dict[str, float]] = {}
    for f in files:
        col: dict[str, float] = {}
        for m in read_measurements_csv(f):
            if m.arch_id not in by_id:
                raise NasedgeError(f"{f}: arch_id {m.arch_id!r} is not in {directory / 'archs.jsonl'}")
            if m.arch != by_id[m.arch_id]:
                raise NasedgeError(f"{f}: arch_id {m.arch_id!r} was measured for a different arch than the dataset's")
            col[m.arch_id] = m.median_ms
        columns[f.stem] = col
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["arch_id", *columns])
    for arch_id, _ in rows:
        writer.writerow([arch_id, *(f"{c[arch_id]:.6g}" if arch_id in c else "" for c in columns.values())])
    out = directory / "latency_ms.csv"
    atomic_write_text(out, buf.getvalue())
    return out


@dataclass
class DeviceProgress:
    """What one :func:`measure_dataset` call did on one device."""

    device: str
    done_before: int  # archs already measured when the call started
    measured: int = 0  # archs measured by this call
    seconds: float = 0.0  # time spent on them (building included for the first device of a group)
    noisy: int = 0

    @property
    def seconds_per_arch(self) -> float:
        return self.seconds / self.measured if self.measured else float("nan")


def _load_existing(paths: Sequence[Path], device: Any) -> dict[str, Measurement]:
    """The measurements of ``device`` in ``paths`` (later files win), by arch id. One column of a dataset is one
    device's: rows measured under its other settings (its YAML changed since) are refused, not mixed in."""
    settings = getattr(device, "settings", "")
    out: dict[str, Measurement] = {}
    for path in dict.fromkeys(paths):
        rows = read_measurements_csv(path) if path.is_file() else []
        other = [m for m in rows if m.settings not in ("", settings)]
        if other:
            raise NasedgeError(f"{path}: {len(other)} of its measurements were taken under other settings of device "
                               f"{device.name!r} ({other[0].settings}, now {settings}: its YAML changed); move the "
                               f"file away to measure the device afresh")
        out.update({m.arch_id: m for m in rows})
    return out


def measure_dataset(directory: str | Path, devices: Sequence[Any], *, out: str | Path | None = None,
                    order: Sequence[str] | None = None, limit: int | None = None, group_size: int | None = None,
                    time_limit: float | None = None, meta: dict[str, Any] | None = None,
                    on_group: Callable[[dict[str, DeviceProgress], int], None] | None = None,
                    redo: Callable[[Measurement], bool] | None = None,
                    ) -> dict[str, DeviceProgress]:
    """Measure the archs of the dataset ``directory`` on ``devices`` (:class:`Device` objects), resumably.

    ``out``: dataset directory to write ``measurements/<device>.{csv,json}`` into (default
    ``directory``); measurements already in either are kept and not repeated. ``order``: arch ids in
    the order to measure (default: file order); ``limit``: only the first ``limit`` of them.
    ``group_size``: archs per group (default: the largest interleaved group of the devices).
    ``time_limit``: seconds after which no new group starts. ``on_group(progress, remaining)`` after
    each group. ``redo(measurement)``: measure again the archs whose existing measurement it accepts
    (e.g. those taken while the machine ran slow). The per-device JSON file records how the device
    measured and every call's figures.
    """
    directory = Path(directory)
    out = Path(out) if out is not None else directory
    rows = dict(read_archs_jsonl(directory / "archs.jsonl"))
    ids = list(order) if order is not None else list(rows)
    unknown = [i for i in ids if i not in rows]
    if unknown:
        raise NasedgeError(f"arch id {unknown[0]!r} is not in {directory / 'archs.jsonl'}")
    ids = ids[:limit] if limit is not None else ids
    files = {d.name: out / "measurements" / f"{d.name}.csv" for d in devices}
    for path in files.values():
        open_for_append(path)  # a row cut short by a kill is repaired before rows are appended after it
    results = {d.name: _load_existing([directory / "measurements" / f"{d.name}.csv", files[d.name]], d)
               for d in devices}
    # measurements to redo stay in the files until replaced: an interrupted call loses nothing
    stale = {d.name: {i for i, m in results[d.name].items() if redo is not None and redo(m)} for d in devices}
    progress = {d.name: DeviceProgress(d.name, sum(i in results[d.name] and i not in stale[d.name] for i in ids))
                for d in devices}
    todo = [i for i in ids if any(i not in results[d.name] or i in stale[d.name] for d in devices)]
    order_index = {i: k for k, i in enumerate(rows)}
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for device in devices:
        _write_meta(out, device, None, meta, started)
    t_start = time.perf_counter()
    group_size = group_size or max(d.group_size() for d in devices)
    for start in range(0, len(todo), group_size):
        if time_limit is not None and time.perf_counter() - t_start > time_limit:
            break
        group = todo[start:start + group_size]
        artifacts = Artifacts()  # one build (module, ONNX, TFLite) per arch, shared by all devices
        for device in devices:
            missing = [i for i in group if i not in results[device.name] or i in stale[device.name]]
            if not missing:
                continue
            t = time.perf_counter()
            # an interleaved group keeps its rounds until its rows are written: a kill costs the round in flight
            journal = open_journal(files[device.name], device, [arch_key(i, rows[i]) for i in missing])
            with journal_in_use(journal):
                device.measure([rows[i] for i in missing], arch_ids=missing, artifacts=artifacts,
                               on_chunk=lambda got, d=device: _append(files[d.name], results[d.name], got,
                                                                      getattr(d, "settings", "")),
                               rounds=journal)
            p = progress[device.name]
            p.seconds += time.perf_counter() - t
            p.measured += len(missing)
            p.noisy += sum(results[device.name][i].noisy for i in missing)
        artifacts.clear()
        if on_group is not None:
            on_group(progress, len(todo) - start - len(group))
    for device in devices:  # one row per arch (a redone arch's last), in the dataset's order
        if progress[device.name].measured or files[device.name].is_file():
            write_measurements_csv(files[device.name], sorted(results[device.name].values(),
                                                              key=lambda m: order_index[m.arch_id]))
        _write_meta(out, device, progress[device.name], meta, started)
    return progress


def _append(path: Path, results: dict[str, Measurement], got: list[Measurement], settings: str) -> None:
    for m in got:
        results[m.arch_id] = append_measurement(path, replace(m, settings=settings))


def _write_meta(out: Path, device: Any, progress: DeviceProgress | None, meta: dict[str, Any] | None,
                started: str) -> None:
    """``measurements/<device>.json``: how the device measures, and one entry per campaign call."""
    path = out / "measurements" / f"{device.name}.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc["device"] = device.describe()
    runs = doc.get("runs", [])
    if progress is None:
        runs.append({"started": started, "load_average_start": list(os.getloadavg()), **(meta or {})})
    else:
        runs[-1].update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), load_average_end=list(os.getloadavg()),
                        measured=progress.measured, seconds=round(progress.seconds, 1), noisy=progress.noisy)
    doc["runs"] = runs
    atomic_write_text(path, json.dumps(doc, indent=1, default=str) + "\n")
