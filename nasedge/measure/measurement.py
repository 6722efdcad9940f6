"""A measured latency of one arch on one device, the CSV file format that stores them, and measuring into one.

The CSV (what ``nasedge measure --out`` writes and ``nasedge predictor fit --measurements`` reads) has
one row per measurement: ``arch_id, device, median_ms, p90_ms, mean_ms, min_ms, spread, rse, samples,
rounds, cpu_share, noisy, reason, probe_ms, node, settings, arch`` where ``arch`` is the arch's JSON
(``probe_ms`` may be missing or empty: files written before it existed, or measured without a probe) and
``settings`` the device's settings digest (``Device.settings``; missing or empty in older files): rows of a
device's name measured under other settings (its YAML edited, another board added under the name) are not
taken for its own.

:func:`measure_to_csv` measures archs on a device into such a file, durably (rows are appended as
they are measured) and resumably (archs already in the file are not measured again).
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text, durable_append
from nasedge.errors import NasedgeError, read_text_file
from nasedge.measure.protocol import LatencyStats
from nasedge.measure.round_journal import arch_key, journal_in_use, open_journal
from nasedge.writer_lock import locked_file

_STATS = [f.name for f in fields(LatencyStats)]
CSV_FIELDS = ["arch_id", "device", *_STATS, "node", "settings", "arch"]


@dataclass(frozen=True)
class Measurement:
    """``stats`` of ``arch`` on ``device``; ``node`` says where it ran (``local:<host>`` or ``ray:<node id>``)."""

    arch: Arch
    device: str
    stats: LatencyStats
    arch_id: str = ""  # the arch's id in the caller's list or dataset ("" when it has none)
    node: str = ""
    settings: str = ""  # the device's settings digest (Device.settings) when measured by nasedge; "": not known

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
        row = {"arch_id": self.arch_id, "device": self.device, "node": self.node, "settings": self.settings,
               "arch": self.arch.to_json()}
        for k, v in self.stats.to_dict().items():
            row[k] = "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
        return row


def _csv_text(measurements: Iterable[Measurement], header: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    if header:
        writer.writeheader()
    for m in measurements:
        writer.writerow(m.to_row())
    return buf.getvalue()


def write_measurements_csv(path: str | Path, measurements: Iterable[Measurement]) -> None:
    """Write (atomically) a measurements CSV."""
    atomic_write_text(path, _csv_text(measurements))


def read_measurements_csv(path: str | Path, *, warn: Callable[[str], None] | None = None) -> list[Measurement]:
    """Read a measurements CSV; a bad file, row or value raises :class:`NasedgeError` naming it.

    A last line cut short (no newline at the end and not a whole row: a write interrupted by a crash,
    in files of versions that did not append whole rows) is left out, and ``warn`` (default: a line
    on stderr) says so; its arch is simply not measured yet.
    """
    text = read_text_file(path, "a measurements CSV file", missing="no such measurements file",
                          encoding="utf-8-sig")
    body, tail = _split_torn(text)
    try:
        return _parse(path, text)
    except NasedgeError as exc:
        if not tail or (not body and not ",".join(CSV_FIELDS).startswith(tail)):
            raise  # a single unfinished line that is no cut header: a file of some other kind, never emptied
        out = _parse(path, body) if body else []  # a bad row before the last one is still an error
        _warn(warn, f"{exc}: the last line is cut short (an interrupted write); left out, its arch counts as "
                    f"not measured")
        return out


def _split_torn(text: str) -> tuple[str, str]:
    """``(whole lines, the last line when it has no newline)``."""
    if not text or text.endswith("\n"):
        return text, ""
    cut = text.rfind("\n") + 1
    return text[:cut], text[cut:]


def _warn(warn: Callable[[str], None] | None, message: str) -> None:
    if warn is None:
        print(f"nasedge: warning: {message}", file=sys.stderr)
    else:
        warn(message)


def _parse(path: str | Path, text: str, label: str | None = None) -> list[Measurement]:
    """The measurements of a CSV text (header first); errors name ``path`` and the line, or ``label``."""
    reader = csv.DictReader(io.StringIO(text))
    needed = {"arch", "device", "median_ms"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise NasedgeError(f"{path}: not a measurements CSV (needs columns {', '.join(sorted(needed))}; "
                           f"found {', '.join(reader.fieldnames or [])})")
    out = []
    for lineno, row in enumerate(reader, start=2):
        where = label or f"{path}:{lineno}"
        if None in row.values():
            raise NasedgeError(f"{where}: expected {len(reader.fieldnames)} columns, found fewer")
        arch = Arch.from_json(row["arch"], where)
        values = {}
        for f in fields(LatencyStats):
            raw = row.get(f.name, "")
            try:
                if f.name in ("noisy",):
                    if raw.strip().lower() not in ("true", "false", ""):
                        raise NasedgeError(f"{where}: column 'noisy': value {raw!r} is not valid; expected true or "
                                           f"false")
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
        if not 0 < values["median_ms"] < math.inf:
            raise NasedgeError(f"{where}: column 'median_ms': value {row['median_ms']!r} is not a positive latency")
        out.append(Measurement(arch, row["device"], LatencyStats(**values), row.get("arch_id", ""),
                               row.get("node", ""), row.get("settings") or ""))
    return out


def measure_to_csv(device: Any, rows: Sequence[tuple[str, Arch]], path: str | Path, *,
                   ray_address: str | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   warn: Callable[[str], None] | None = None, once_per_arch: bool = False,
                   reused: Callable[[list[str]], None] | None = None, one_space: bool = True) -> list[Measurement]:
    """Measure ``rows`` (``(arch_id, arch)``) on ``device`` (a :class:`~nasedge.measure.Device`) into ``path``.

    ``path`` is a measurements CSV, created if missing. Each arch's row is appended (one write, then
    fsync) as soon as the device returns its measurement, so a kill loses at most the archs in flight:
    one arch on devices that measure one at a time; on those that interleave a group (the protocol's
    ``group_size``), the round in flight, as the group's rounds are kept in a round journal until its rows
    are written (:mod:`nasedge.measure.round_journal`, also for a device on a Ray node; with a machine
    check, the group). The archs of ``rows`` that the file already holds for ``device`` (same ``arch_id`` and
    arch) are not measured again, and rows of other devices stay; a last line cut short is repaired (``warn``
    says so). With ``once_per_arch``, neither are the archs it holds under another ``arch_id`` (``warn`` says
    how many): a file of one arch twice is refused by the fit (a repeated measurement, such as verification's
    rounds, is measured again without it).
    ``progress(done, total)`` (archs of ``rows``) once before measuring, after each arch and, while a group is
    timed, after each of its rounds (``done`` then counts an arch's rounds towards the protocol's
    ``min_rounds``, up to 0.9 of an arch until its row is written). Returns every measurement of ``device`` in
    the file, in file order. ``reused(arch ids)`` hears, before measuring, the ids of ``rows`` the file already held.
    ``one_space``: archs of another space than the device's rows of the file are refused before measuring (a file
    `nasedge predictor fit` reads; not specialize's verification file, which a run of another supernet may share).
    """
    with locked_file(path, "measurements CSV"):  # a second run would measure and append every arch again
        return _measure_to_csv(device, rows, Path(path), ray_address, progress, warn, once_per_arch, reused,
                               one_space)


def _measure_to_csv(device: Any, rows: Sequence[tuple[str, Arch]], path: Path, ray_address: str | None,
                    progress: Callable[[int, int], None] | None, warn: Callable[[str], None] | None,
                    once_per_arch: bool, reused: Callable[[list[str]], None] | None = None,
                    one_space: bool = True) -> list[Measurement]:
    existing = open_for_append(path, warn)
    if one_space:
        _check_one_space(path, device.name, existing, rows)
    settings = getattr(device, "settings", "")
    results = [m for m in existing if m.device == device.name and m.settings in ("", settings)]
    other = sum(m.device == device.name for m in existing) - len(results)
    if other:  # the device's YAML was edited, or another board was added under its name
        _warn(warn, f"{path}: {other} measurements of {device.name} under other settings are not reused")
    have = {(m.arch_id, m.arch) for m in results}
    todo = [(i, a) for i, a in rows if (i, a) not in have]
    if once_per_arch:
        held = {m.arch: m.arch_id for m in results}
        again = [(i, held[a]) for i, a in todo if a in held]
        if again:
            _warn(warn, f"{path}: {len(again)} of the archs {'are' if len(again) > 1 else 'is'} already measured on "
                        f"{device.name} under another id (first: arch {again[0][0]} is arch {again[0][1]} there); "
                        f"not measured again")
            todo = [(i, a) for i, a in todo if a not in held]
    done = len(rows) - len(todo)
    if reused is not None:
        measuring = {i for i, _ in todo}
        reused([i for i, _ in rows if i not in measuring])
    finished: set[str] = set()  # keys of the archs whose row is written
    journal = open_journal(path, device, [arch_key(i, a) for i, a in todo], warn=lambda m: _warn(warn, m))
    if journal is not None and journal.restored:
        _warn(warn, f"{journal.path}: resuming {journal.restored} rounds timed before")
    min_rounds = device.protocol().min_rounds if journal is not None else 1

    def report() -> None:  # a group in flight counts its rounds as fractions of its archs
        if progress is not None:
            progress(done + (_in_flight(journal, finished, min_rounds) if journal is not None else 0), len(rows))

    if journal is not None:
        journal.on_record = report
    report()

    def append(chunk: list[Measurement]) -> None:
        nonlocal done
        for m in chunk:
            results.append(append_measurement(path, replace(m, settings=settings)))
            finished.add(arch_key(m.arch_id, m.arch))
            done += 1
            report()

    with journal_in_use(journal):
        if todo:
            device.measure([a for _, a in todo], arch_ids=[i for i, _ in todo], ray_address=ray_address,
                           on_chunk=append, rounds=journal)
    return results


def _check_one_space(path: Path, device: str, existing: Sequence[Measurement],
                     rows: Sequence[tuple[str, Arch]]) -> None:
    """Refuse archs of another space than the one ``device``'s rows in the file hold: `nasedge predictor fit` reads a
    device's rows of a file in one space, so the file would no longer be read (another device's rows may differ)."""
    held = {m.arch.space for m in existing if m.device == device}
    new = sorted({a.space for _, a in rows} - held)
    if len(held) == 1 and new:
        raise NasedgeError(f"{path}: holds measurements of {device} in space {next(iter(held))!r}, and archs of "
                           f"{new[0]!r} added would make its rows unreadable by `nasedge predictor fit`; measure them "
                           f"into another file")


def _in_flight(journal: Any, finished: set[str], min_rounds: int) -> float:
    """The archs of a group in flight, in archs: each one's rounds over ``min_rounds``, at most 0.9."""
    kept = journal.kept()
    return sum(min(kept.get(k, 0) / min_rounds, 0.9) for k in journal.keys if k not in finished)


def append_measurement(path: str | Path, measurement: Measurement) -> Measurement:
    """Append one whole row to a measurements CSV (the header first when it is new), durably.

    One ``write`` of the whole row to a file opened for appending, then fsync: a crash leaves the
    row complete or missing, short of a torn disk write (which the reader repairs). Returns the
    measurement as the file holds it (numbers to 6 significant digits), so that what is computed from
    it is the same whether a run measured it or resumed it from the file.
    """
    # checked before it is written: a row the reader refuses would stop every later run on this file
    kept = _parse(path, _csv_text([measurement]), label=f"device {measurement.device}, arch {measurement.arch_id or '?'} "
                  f"(not written to {path})")[0]
    durable_append(path, _csv_text([measurement], header=False).encode(), header=_csv_text([]).encode())
    return kept


def read_for_append(path: str | Path, warn: Callable[[str], None] | None = None) -> list[Measurement]:
    """:func:`read_measurements_csv` of a file that measuring appends to: an error names the way out too (a rerun
    stops on it again and again)."""
    try:
        return read_measurements_csv(path, warn=warn)
    except NasedgeError as exc:
        line = re.match(rf"{re.escape(str(path))}:\d+: ", str(exc)) is not None  # the error names a line
        raise NasedgeError(f"{exc}; measurements are appended to {Path(path).name}: "
                           f"{'fix or delete that line, or ' if line else ''}move the file aside to measure afresh"
                           ) from None


def open_for_append(path: str | Path, warn: Callable[[str], None] | None = None) -> list[Measurement]:
    """The measurements in ``path``, after making it safe to append to (whole rows, current columns)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (IsADirectoryError, UnicodeDecodeError):
        return read_measurements_csv(path)  # raises the error that names the file
    if not text:
        return []
    existing = read_for_append(path, warn)
    if not text.endswith("\n") or text.split("\n", 1)[0] != ",".join(CSV_FIELDS):
        # a row cut short (left out above), or an older column set: appended rows must line up
        write_measurements_csv(path, existing)
    return existing
