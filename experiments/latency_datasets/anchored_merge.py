"""Replace a badly measured stretch of a device's latencies by an anchored remeasurement.

    python experiments/latency_datasets/anchored_merge.py experiments/latency_datasets/results/h200_b1_anchored \
        --devices h200-torch-fp32-b1,h200-torch-fp16-b1 --replace 760-999 [--dry-run]

The folder holds ``p<k>/ofa_mbv3_w1.2/measurements/<device>.csv``: processes (plans/anchored.sh) that each
measured the stretch *and* anchor archs the dataset already has (its reference archs, every 8th id
below the stretch). A process's level differs from the dataset's (batch-1 GPU latency moves with the
process), so each process is rescaled by the median ratio dataset / process over its anchors that are
not flagged noisy. Per arch of the stretch, the rescaled results not flagged noisy are averaged; where
two disagree by more than 25 % the smaller is kept (latency noise makes runs slow, never fast: a fresh
process's first archs on an idle GPU ran at its idle clock, 5x slow). The dataset's measurement CSV gets
the merged rows (stats of the chosen result, rescaled), its JSON a ``runs`` entry saying so; then
``latency_ms.csv`` is rebuilt. ``--dry-run`` prints the figures only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from nasedge.arch import read_archs_jsonl
from nasedge.atomic import atomic_write_text
from nasedge.measure.dataset import assemble_latency_csv
from nasedge.measure.measurement import Measurement, read_measurements_csv, write_measurements_csv

DATA = Path("latency_predictors/data/ofa_mbv3_w1.2")
DISAGREE = 1.25


def scaled(m: Measurement, f: float) -> Measurement:
    s = m.stats
    return dataclasses.replace(m, stats=dataclasses.replace(s, median_ms=s.median_ms * f, p90_ms=s.p90_ms * f,
                                                            mean_ms=s.mean_ms * f, min_ms=s.min_ms * f))


def merge_device(folder: Path, data: Path, device: str, stretch: set[str], dry_run: bool) -> None:
    current = {m.arch_id: m for m in read_measurements_csv(data / "measurements" / f"{device}.csv")}
    processes = sorted(folder.glob(f"p*/{data.name}/measurements/{device}.csv"))
    if not processes:
        raise SystemExit(f"{folder}: no p*/{data.name}/measurements/{device}.csv")
    rescaled: list[dict[str, Measurement]] = []
    for path in processes:
        got = {m.arch_id: m for m in read_measurements_csv(path)}
        ratios = np.array([current[i].median_ms / m.median_ms for i, m in got.items()
                           if i not in stretch and i in current and not m.noisy])
        f = float(np.median(ratios))
        spread = np.abs(ratios / f - 1)
        print(f"{device} {path.parts[-4]}: {len(got)} results, {sum(m.noisy for m in got.values())} noisy; "
              f"{len(ratios)} anchors, factor {f:.3f}, anchors after rescaling: median |diff| "
              f"{100 * np.median(spread):.2f} %, p90 {100 * np.percentile(spread, 90):.2f} %")
        rescaled.append({i: scaled(m, f) for i, m in got.items() if i in stretch and not m.noisy})
    merged, kept_smaller, missing = {}, 0, []
    for i in sorted(stretch, key=int):
        found = [r[i] for r in rescaled if i in r]
        if not found:
            missing.append(i)
            continue
        values = [m.median_ms for m in found]
        best = min(found, key=lambda m: m.median_ms)
        if max(values) > DISAGREE * min(values):
            kept_smaller += 1
            merged[i] = best
        else:
            merged[i] = dataclasses.replace(best, stats=dataclasses.replace(best.stats, median_ms=float(np.mean(values))))
    if len(rescaled) > 1:
        both = [i for i in stretch if all(i in r for r in rescaled[:2])]
        d = np.array([rescaled[0][i].median_ms / rescaled[1][i].median_ms - 1 for i in both])
        print(f"  processes 1 and 2 on the stretch after rescaling: median |diff| {100 * np.median(np.abs(d)):.2f} % "
              f"({len(both)} archs)")
    old = np.array([current[i].median_ms / merged[i].median_ms for i in merged])
    print(f"  merged {len(merged)} archs ({kept_smaller} kept the smaller of two disagreeing results; "
          f"{len(missing)} without a clean result keep the old one); old / new: median {np.median(old):.3f}")
    if dry_run:
        return
    current.update(merged)
    order = {i: k for k, (i, _) in enumerate(read_archs_jsonl(data / "archs.jsonl"))}
    write_measurements_csv(data / "measurements" / f"{device}.csv", sorted(current.values(), key=lambda m: order[m.arch_id]))
    meta_path = data / "measurements" / f"{device}.json"
    doc = json.loads(meta_path.read_text())
    doc.setdefault("runs", []).append({
        "merged": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv),
        "replaced": len(merged), "from": [str(p) for p in processes],
        "how": "anchored remeasurement: each process rescaled by the median dataset/process ratio over its anchors, "
               f"results not flagged noisy averaged (the smaller kept where two differ by > {DISAGREE}x)"})
    atomic_write_text(meta_path, json.dumps(doc, indent=1) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--devices", default="h200-torch-fp32-b1,h200-torch-fp16-b1")
    p.add_argument("--replace", required=True, metavar="FIRST-LAST", help="arch ids to replace, e.g. 760-999")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    try:
        first, last = (int(x) for x in args.replace.split("-"))
    except ValueError:
        p.error(f"--replace: value {args.replace!r} is not FIRST-LAST (two arch ids)")
    stretch = {str(i) for i in range(first, last + 1)}
    for device in args.devices.split(","):
        merge_device(args.folder, args.data, device, stretch, args.dry_run)
    if not args.dry_run:
        print(f"rebuilt {assemble_latency_csv(args.data)}")


if __name__ == "__main__":
    main()
