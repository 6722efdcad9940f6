"""Writing our own latency datasets (the format of DESIGN.md) from measurement files.

A dataset directory holds ``archs.jsonl`` (``arch_id`` + the arch's fields per line), optionally
``reference_archs.json``, one detailed measurements CSV per device in ``measurements/<device>.csv``
(median, p90, spread, noise flag, where it ran), how each device was measured in
``measurements/<device>.json``, and ``latency_ms.csv`` (``arch_id,<device>,...``: the medians),
which :func:`assemble_latency_csv` rebuilds from the measurement files. Devices measured on
different machines are merged by copying their ``measurements/`` files into one directory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.measure.measurement import read_measurements


def read_arch_rows(path: str | Path) -> list[tuple[str, Arch]]:
    """``(arch_id, arch)`` per line of a JSON-lines file; lines without ``arch_id`` get their index."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise NasedgeError(f"{path}: no such arch file") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: not a JSON-lines arch file") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{where}: invalid JSON at column {exc.colno}: {exc.msg}") from None
        if not isinstance(data, dict):
            raise NasedgeError(f"{where}: expected a JSON object with the arch's fields")
        arch_id = data.pop("arch_id", len(rows))
        rows.append((str(arch_id), Arch.from_dict(data, where)))
    ids = [i for i, _ in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise NasedgeError(f"{path}: arch_id {dup!r} appears more than once")
    return rows


def write_arch_rows(path: str | Path, rows: Iterable[tuple[str | int, Arch]]) -> None:
    text = "".join(json.dumps({"arch_id": int(i) if str(i).isdigit() else i, **a.to_dict()}) + "\n" for i, a in rows)
    atomic_write_text(path, text)


def assemble_latency_csv(directory: str | Path, devices: Sequence[str] | None = None) -> Path:
    """Rebuild ``latency_ms.csv`` (median per arch and device) from ``measurements/*.csv``.

    Rows follow ``archs.jsonl``; a device's cell is empty where it has no measurement of that arch.
    A measurement whose arch differs from the dataset's arch of the same id is an error.
    """
    directory = Path(directory)
    rows = read_arch_rows(directory / "archs.jsonl")
    by_id = dict(rows)
    files = sorted((directory / "measurements").glob("*.csv"))
    if devices is not None:
        files = [f for f in files if f.stem in devices]
    columns: dict[str, dict[str, float]] = {}
    for f in files:
        col: dict[str, float] = {}
        for m in read_measurements(f):
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
