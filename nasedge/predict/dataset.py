"""Latency datasets: archs measured on devices, read from the directory format of ``DESIGN.md``.

A dataset directory holds ``archs.jsonl`` (one JSON object per line: ``arch_id`` and the arch fields),
``latency_ms.csv`` (``arch_id,<device>,<device>,...``, milliseconds; an empty cell is a missing
measurement) and optionally ``reference_archs.json`` (arch ids of the hardware-embedding archs).
Several directories load into one table, joined on arch identity, so that our own measurements and
the public ones can be used together. A measurements CSV (``nasedge measure`` output: columns ``arch``
with the canonical arch JSON and ``latency_ms``) is read by :func:`read_arch_latency_csv`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasedge.errors import NasedgeError, read_text_file, unreadable
from nasedge.jsonlines import read_json_lines
from nasedge.predict.base import LATENCY_RANGE_MS
from nasedge.predict.encodings import LatencyEncoding, get_encoding
from nasedge.spaces import SearchSpace


@dataclass(frozen=True, eq=False)
class LatencyDataset:
    """``latency[i, j]``: milliseconds of ``items[i]`` on ``devices[j]`` (NaN where not measured)."""

    encoding: LatencyEncoding
    items: list
    arch_ids: np.ndarray  # id of each item in the first directory that holds it
    devices: tuple[str, ...]
    latency: np.ndarray
    reference: tuple[int, ...]  # row indices of the reference archs
    sources: tuple[str, ...] = ()  # directory of each device column

    def __len__(self) -> int:
        return len(self.items)

    def device_index(self, device: str) -> int:
        if device not in self.devices:
            raise NasedgeError(f"unknown device {device!r} in the dataset; known: {', '.join(self.devices)}")
        return self.devices.index(device)

    def column(self, device: str) -> np.ndarray:
        return self.latency[:, self.device_index(device)]

    def measured(self, device: str) -> np.ndarray:
        """Row indices of the archs measured on ``device``."""
        return np.flatnonzero(np.isfinite(self.column(device)))

    def rows(self, arch_ids: Sequence[int]) -> np.ndarray:
        where = {int(a): i for i, a in enumerate(self.arch_ids)}
        return np.array([where[int(a)] for a in arch_ids], dtype=np.int64)

    def select_devices(self, devices: Sequence[str]) -> LatencyDataset:
        idx = [self.device_index(d) for d in devices]
        return LatencyDataset(self.encoding, self.items, self.arch_ids, tuple(devices), self.latency[:, idx],
                              self.reference, tuple(self.sources[i] for i in idx) if self.sources else ())


ARCH_ID_RANGE = (-2**63, 2**63 - 1)  # arch ids are held as int64 (LatencyDataset.arch_ids)


def _check_arch_id(aid: int, where: str, field: str) -> int:
    """``aid``, or an error naming it where it does not fit the int64 the dataset holds ids in."""
    low, high = ARCH_ID_RANGE
    if not low <= aid <= high:
        raise NasedgeError(f"{where}: {field}: value {aid} is out of range; expected an integer from -2**63 to "
                           f"2**63 - 1")
    return aid


def _detect_encoding(record: dict, source: str) -> LatencyEncoding:
    if "ops" in record:
        return get_encoding("fbnet")
    if "arch_str" in record:
        return get_encoding("nasbench201")
    if {"ks", "e", "d", "r"} <= set(record):
        return get_encoding("ofa")
    if "space" in record:
        return get_encoding(record["space"])
    raise NasedgeError(f"{source}: cannot tell the space of this record (fields {', '.join(record)}); "
                       f"pass --space")


def _check_family(record: dict, where: str, space: LatencyEncoding, first: bool) -> None:
    """A dataset of another family than --space, or a line of another family among the dataset's (``first``: the
    record of the first line), says so, rather than fail on a field the arch lacks."""
    try:
        found = _detect_encoding(record, where)
    except NasedgeError:  # a record only the given space can read: its parser says what is wrong
        return
    if type(found) is not type(space):
        raise NasedgeError(f"{where}: an arch of space {found.name!r}, not {space.name!r}; " +
                           ("is --space right for this dataset?" if first else
                            f"the lines before it are archs of {space.name!r}, and a dataset holds one space's"))


def _read_archs(path: Path, space: LatencyEncoding | None) -> tuple[LatencyEncoding, list[int], list]:
    """The encoding, ids and archs of ``archs.jsonl``; an id, or an arch, given twice is refused naming both lines
    (one of them would silently take the other's measurements)."""
    ids, items = [], []
    line_of_id: dict[int, str] = {}
    line_of_arch: dict[str, str] = {}
    for where, rec in read_json_lines(path, "no such file (a latency dataset directory needs archs.jsonl)"):
        if not isinstance(rec, dict) or "arch_id" not in rec:
            raise NasedgeError(f"{where}: field 'arch_id': missing; expected an object with arch_id "
                               f"and the arch")
        aid = rec["arch_id"]
        if isinstance(aid, bool) or not isinstance(aid, int):
            raise NasedgeError(f"{where}: field 'arch_id': value {aid!r} is not valid; expected an integer")
        _check_arch_id(aid, where, "field 'arch_id'")
        if space is None:
            space = _detect_encoding(rec, where)
        try:
            item = space.parse(rec, where)
        except NasedgeError:
            _check_family(rec, where, space, not ids)
            raise
        if aid in line_of_id:
            raise NasedgeError(f"{where}: field 'arch_id': value {aid} is also the id of line "
                               f"{line_of_id[aid].rpartition(':')[2]}; every arch needs an id of its own")
        key = space.key(item)
        if key in line_of_arch:
            raise NasedgeError(f"{where}: the same arch as line {line_of_arch[key].rpartition(':')[2]} under another "
                               f"arch_id; give each arch once (its measurements in one row)")
        line_of_id[aid], line_of_arch[key] = where, where
        ids.append(aid)
        items.append(item)
    if space is None:
        raise NasedgeError(f"{path}: no archs")
    return space, ids, items


MISSING = ("", "nan", "na", "n/a", "null", "none")  # a cell that says "not measured" (case aside)


def _float(text: str, where: str, column: str) -> float:
    if text.strip().lower() in MISSING:
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise NasedgeError(f"{where}: column '{column}': value {text!r} is not a number") from None
    low, high = LATENCY_RANGE_MS
    if not math.isfinite(v) or v <= 0:
        raise NasedgeError(f"{where}: column '{column}': value {text!r} is not valid; "
                           f"expected a positive latency")
    if not low <= v <= high:  # the fit refuses it too, but without the line
        raise NasedgeError(f"{where}: column '{column}': value {text!r} is not valid; expected a latency of "
                           f"{low:g} to {high:g} ms")
    return v


# how a last line without its line end comes about, and its repair: `nasedge measure` appends rows as it measures;
# a dataset's latency_ms.csv is written whole (nasedge.measure.dataset writes it atomically) or by hand
MEASURE_CUT = "a last line cut short by a kill is repaired by rerunning `nasedge measure` with the same --out"
DATASET_CUT = "the file ends mid-line: cut short (an interrupted copy or edit?)"


def _csv_rows(reader: Any, header: list[str], path: Path, cut: str) -> Iterator[tuple[str, list[str]]]:
    """``("<path>:<line>", row)`` for the non-empty rows after the header, each as wide as the header; ``cut``: what
    is said of a last line too short that has no line end (:data:`MEASURE_CUT`, :data:`DATASET_CUT`)."""
    rows = [(lineno, row) for lineno, row in enumerate(reader, start=2) if row]
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        if len(row) != len(header):
            # only the last line, without its line end, can be one cut short
            said = (f"; {cut}" if len(row) < len(header) and lineno == rows[-1][0]
                    and not path.read_bytes().endswith(b"\n") else "")
            raise NasedgeError(f"{where}: {len(row)} columns; expected {len(header)} as in the header{said}")
        yield where, row


def _read_latency(path: Path, ids: set[int]) -> tuple[list[str], dict[int, list[float]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return _latency_table(csv.reader(f), path, ids)
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(exc, path, "a latency CSV (arch_id,<device>,...)",
                         missing="no such file (a latency dataset directory needs latency_ms.csv)") from None


def _latency_table(reader: Any, path: Path, ids: set[int]) -> tuple[list[str], dict[int, list[float]]]:
    header = next(reader, None)
    if not header or header[0] != "arch_id" or len(header) < 2:
        raise NasedgeError(f"{path}:1: expected a header 'arch_id,<device>,...'")
    devices = [h.strip() for h in header[1:]]
    if "" in devices:
        raise NasedgeError(f"{path}:1: column {devices.index('') + 2} has no device name (a trailing comma?)")
    twice = next((d for i, d in enumerate(devices) if d in devices[:i]), None)
    if twice is not None:
        raise NasedgeError(f"{path}:1: device column {twice!r} is there twice")
    comma = next((d for d in devices if "," in d), None)
    if comma is not None:  # --target-device and --sources take comma-separated names: it could not be chosen
        raise NasedgeError(f"{path}:1: device column {comma!r}: a device name may not hold a comma; rename it")
    rows: dict[int, list[float]] = {}
    line_of: dict[int, str] = {}
    for where, row in _csv_rows(reader, header, path, DATASET_CUT):
        try:
            aid = int(row[0])
        except ValueError:
            raise NasedgeError(f"{where}: column 'arch_id': value {row[0]!r} is not an integer") from None
        _check_arch_id(aid, where, "column 'arch_id'")
        if aid not in ids:
            raise NasedgeError(f"{where}: column 'arch_id': value {aid} is not in archs.jsonl")
        if aid in rows:
            raise NasedgeError(f"{where}: column 'arch_id': value {aid} is also the arch of line "
                               f"{line_of[aid].rpartition(':')[2]}; give each arch one row")
        rows[aid], line_of[aid] = [_float(v, where, d) for v, d in zip(row[1:], devices)], where
    if not rows:
        raise NasedgeError(f"{path}: no measurement rows after the header")
    empty = next((d for j, d in enumerate(devices) if all(math.isnan(v[j]) for v in rows.values())), None)
    if empty is not None:
        raise NasedgeError(f"{path}: column {empty!r} holds no latency; remove it")
    return devices, rows


def load_dataset(dirs: str | Path | Sequence[str | Path],
                 space: SearchSpace | LatencyEncoding | str | None = None) -> LatencyDataset:
    """Load one or more dataset directories into one table (archs joined on identity)."""
    from nasedge.predict.profile import case_twin

    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    enc = get_encoding(space) if space is not None else None
    keys: dict[str, int] = {}
    items: list[Hashable] = []
    arch_ids: list[int] = []
    columns: list[tuple[str, str, dict[int, float]]] = []  # (device, dir, row -> latency)
    reference: list[int] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise NasedgeError(f"{d}: not a directory (expected a latency dataset directory)")
        enc, ids, dir_items = _read_archs(d / "archs.jsonl", enc)
        id_to_row = {}
        for aid, item in zip(ids, dir_items):
            k = enc.key(item)
            if k not in keys:
                keys[k] = len(items)
                items.append(item)
                arch_ids.append(aid)
            id_to_row[aid] = keys[k]
        devices, rows = _read_latency(d / "latency_ms.csv", set(ids))
        seen = {other: other_dir for other, other_dir, _ in columns}
        for j, dev in enumerate(devices):
            if dev in seen:
                raise NasedgeError(f"device {dev!r} is in both {seen[dev]} and {d}; rename one column")
            # in a benchmark, the target's twin among the sources would leak its answers
            twin = case_twin(dev, seen)
            if twin is not None:
                where = "" if seen[twin] == str(d) else f" of {seen[twin]}"
                raise NasedgeError(f"{d / 'latency_ms.csv'}: device {dev!r} differs from device {twin!r}{where} "
                                   f"only in case; rename one column")
            columns.append((dev, str(d), {id_to_row[a]: v[j] for a, v in rows.items() if not math.isnan(v[j])}))
            seen[dev] = str(d)
        ref_path = d / "reference_archs.json"
        if ref_path.is_file():
            try:
                ref_ids = json.loads(read_text_file(ref_path, "a JSON list of arch ids", encoding="utf-8-sig"))
            except json.JSONDecodeError as exc:
                raise NasedgeError(f"{ref_path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
            if not isinstance(ref_ids, list) or not all(isinstance(r, int) and not isinstance(r, bool)
                                                        for r in ref_ids):
                raise NasedgeError(f"{ref_path}: expected a list of arch ids (integers), e.g. [11982, 305]")
            for r in ref_ids:
                _check_arch_id(r, str(ref_path), "arch id")
            unknown = [r for r in ref_ids if r not in id_to_row]
            if unknown:
                raise NasedgeError(f"{ref_path}: arch id {unknown[0]!r} is not in {d / 'archs.jsonl'}")
            reference.extend(id_to_row[r] for r in ref_ids if id_to_row[r] not in reference)
    latency = np.full((len(items), len(columns)), np.nan)
    for j, (_, _, col) in enumerate(columns):
        for i, v in col.items():
            latency[i, j] = v
    return LatencyDataset(enc, items, np.array(arch_ids, dtype=np.int64), tuple(c[0] for c in columns), latency,
                          tuple(reference), tuple(c[1] for c in columns))


def read_arch_latency_csv(path: str | Path, space: SearchSpace | LatencyEncoding | str | None = None,
                          device: str | None = None) -> tuple[LatencyEncoding, list, np.ndarray]:
    """Read a CSV of archs and their latency: column ``arch`` (arch JSON) and ``latency_ms`` (or
    ``median_ms``, as ``nasedge measure`` writes it); other columns are ignored, except ``device``: a
    file with rows of several devices needs ``device`` to choose them."""
    m = _read_csv(Path(path), get_encoding(space) if space is not None else None, device)
    return m.encoding, m.archs, m.latency_ms


@dataclass(frozen=True, eq=False)
class DeviceMeasurements:
    """The archs a CSV holds for one device, their latency and which rows the file flags noisy."""

    encoding: LatencyEncoding
    archs: list
    latency_ms: np.ndarray
    noisy: np.ndarray  # bool per row (column ``noisy`` of ``nasedge measure`` output; all False without it)
    # rows of the device left out, measured under other settings (column ``settings``): one sentence saying how many
    left_out: str = ""


def read_device_measurements(path: str | Path, device: str,
                             space: SearchSpace | LatencyEncoding | str | None = None,
                             settings: str = "") -> DeviceMeasurements:
    """The measurements of ``device`` in a CSV as :func:`read_arch_latency_csv` reads it: a file whose
    ``device`` column names ``device`` (or several devices) gives that device's rows; one naming only another
    device (a file measured under another name) or none is taken whole. With ``settings`` (the device's
    ``Device.settings``), rows whose ``settings`` column names other settings are left out (``left_out`` says how
    many): they were measured before its YAML was edited, or on another board of the name."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = csv.DictReader(f)
            devices = {r.get("device") for r in rows} if "device" in (rows.fieldnames or []) else set()
    except (OSError, UnicodeDecodeError, csv.Error):
        devices = set()  # _read_csv names the problem
    chosen = device if device in devices or len(devices) > 1 else None
    return _read_csv(path, get_encoding(space) if space is not None else None, chosen, settings)


def _read_csv(path: Path, enc: LatencyEncoding | None, device: str | None, settings: str = "") -> DeviceMeasurements:
    try:  # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a BOM
        with path.open(newline="", encoding="utf-8-sig") as f:
            return _read_rows(path, f, enc, device, settings)
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(exc, path, "a measurements CSV") from None


def _read_rows(path: Path, f, enc: LatencyEncoding | None, device: str | None, settings: str = "") -> DeviceMeasurements:
    items, lat, noisy, other, skipped = [], [], [], set(), 0
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        column = next((c for c in ("latency_ms", "median_ms") if header and c in header), None)
        if not header or "arch" not in header or column is None:
            raise NasedgeError(f"{path}:1: expected a header with columns 'arch' and 'latency_ms' "
                               f"(or 'median_ms'), got {','.join(header or [])!r}")
        ia, il = header.index("arch"), header.index(column)
        idev = header.index("device") if "device" in header else None
        inoisy = header.index("noisy") if "noisy" in header else None
        # only among the device's own rows: a file taken whole was measured under another name, by its settings
        isettings = header.index("settings") if settings and device is not None and "settings" in header else None
        seen_devices: set[str] = set()
        rows = list(_csv_rows(reader, header, path, MEASURE_CUT))
        last = rows[-1][0] if rows else None
        for where, row in rows:
            if idev is not None:
                seen_devices.add(row[idev])
                if device is not None and row[idev] != device:
                    continue
            if isettings is not None and row[isettings] not in ("", settings):
                other.add(row[isettings])
                skipped += 1
                continue
            try:
                rec = json.loads(row[ia])
            except json.JSONDecodeError as exc:
                cut = f"; {MEASURE_CUT}" if where == last and not path.read_bytes().endswith(b"\n") else ""
                raise NasedgeError(f"{where}: column 'arch': invalid JSON at column {exc.colno}: "
                                   f"{exc.msg}{cut}") from None
            if not isinstance(rec, dict):
                raise NasedgeError(f"{where}: column 'arch': expected a JSON object, got {row[ia]!r}")
            if enc is None:
                enc = _detect_encoding(rec, f"{where}: column 'arch'")
            try:
                items.append(enc.parse(rec, f"{where}: column 'arch'"))
            except NasedgeError:  # a row of another space says so, not which of its fields this space lacks
                _check_family(rec, f"{where}: column 'arch'", enc, not items)
                raise
            v = _float(row[il], where, column)
            if math.isnan(v):  # a cell a latency table reads as not measured: no measurement
                what = f"value {row[il]!r} is not a number" if row[il].strip() else "empty"
                raise NasedgeError(f"{where}: column '{column}': {what}; expected a positive latency")
            lat.append(v)
            flag = row[inoisy].strip().lower() if inoisy is not None else ""
            if flag not in ("true", "false", ""):
                raise NasedgeError(f"{where}: column 'noisy': value {row[inoisy]!r} is not valid; expected true or "
                                   f"false")
            noisy.append(flag == "true")
    if device is None and len(seen_devices) > 1:
        raise NasedgeError(f"{path}: rows of several devices ({', '.join(sorted(seen_devices))}); choose one")
    if not items:
        which = f" of device {device!r}" if device is not None and seen_devices else ""
        if other:
            raise NasedgeError(f"{path}: no measurements{which} under its settings now ({settings}), only under "
                               f"other settings ({', '.join(sorted(other))}): measured before its YAML was edited, "
                               f"or on another board of the name; measure it again")
        raise NasedgeError(f"{path}: no measurements{which}")
    left_out = (f"{path}: {skipped} measurements of {device} under other settings are left out (measured before its "
                f"YAML was edited, or on another board of the name)") if skipped else ""
    return DeviceMeasurements(enc, items, np.array(lat), np.array(noisy, dtype=bool), left_out)
