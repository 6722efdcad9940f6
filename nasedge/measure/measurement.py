"""A measured latency of one arch on one device, and the CSV file format that stores them.

The CSV (what ``nasedge measure --out`` writes and ``nasedge predictor fit --measurements`` reads) has
one row per measurement: ``arch_id, device, median_ms, p90_ms, mean_ms, min_ms, spread, rse, samples,
rounds, cpu_share, noisy, reason, probe_ms, node, arch`` where ``arch`` is the arch's JSON
(``probe_ms`` may be missing or empty: files written before it existed, or measured without a probe).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.measure.protocol import LatencyStats

_STATS = [f.name for f in fields(LatencyStats)]
CSV_FIELDS = ["arch_id", "device", *_STATS, "node", "arch"]


@dataclass(frozen=True)
class Measurement:
    """``stats`` of ``arch`` on ``device``; ``node`` says where it ran (``local:<host>`` or ``ray:<node id>``)."""

    arch: Arch
    device: str
    stats: LatencyStats
    arch_id: str = ""  # the arch's id in the caller's list or dataset ("" when it has none)
    node: str = ""

    @property
    def median_ms(self) -> float:
        return self.stats.median_ms

    @property
    def p90_ms(self) -> float:
        return self.stats.p90_ms

    @property
    def spread(self) -> float:
        return self.stats.spread

    @property
    def noisy(self) -> bool:
        return self.stats.noisy

    @property
    def reason(self) -> str:
        return self.stats.reason

    def to_row(self) -> dict[str, str]:
        row = {"arch_id": self.arch_id, "device": self.device, "node": self.node, "arch": self.arch.to_json()}
        for k, v in self.stats.to_dict().items():
            row[k] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
        return row


def measurements_csv(measurements: Iterable[Measurement]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for m in measurements:
        writer.writerow(m.to_row())
    return buf.getvalue()


def write_measurements(path: str | Path, measurements: Iterable[Measurement]) -> None:
    """Write (atomically) a measurements CSV."""
    atomic_write_text(path, measurements_csv(measurements))


def read_measurements(path: str | Path) -> list[Measurement]:
    """Read a measurements CSV; a bad file, row or value raises :class:`NasedgeError` naming it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise NasedgeError(f"{path}: no such measurements file") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: not a measurements CSV file") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"arch", "device", "median_ms"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise NasedgeError(f"{path}: not a measurements CSV (needs columns {', '.join(sorted(needed))}; "
                           f"found {', '.join(reader.fieldnames or [])})")
    out = []
    for lineno, row in enumerate(reader, start=2):
        where = f"{path}:{lineno}"
        arch = Arch.from_json(row["arch"], where)
        values = {}
        for f in fields(LatencyStats):
            raw = row.get(f.name, "")
            try:
                if f.name in ("noisy",):
                    values[f.name] = raw.strip().lower() == "true"
                elif f.name == "reason":
                    values[f.name] = raw
                elif f.name in ("samples", "rounds"):
                    values[f.name] = int(raw) if raw else 0
                elif f.name in ("cpu_share", "probe_ms"):
                    values[f.name] = float(raw) if raw else None
                else:
                    values[f.name] = float(raw) if raw else float("nan")
            except ValueError:
                raise NasedgeError(f"{where}: column '{f.name}': value {raw!r} is not a number") from None
        if not values["median_ms"] > 0:
            raise NasedgeError(f"{where}: column 'median_ms': value {row['median_ms']!r} is not a positive latency")
        out.append(Measurement(arch, row["device"], LatencyStats(**values), row.get("arch_id", ""),
                               row.get("node", "")))
    return out

