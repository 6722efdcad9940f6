"""How a two-thread device's results compare with the one-thread device of the same runtime, and how many were
measured while the machine ran slow.

    python experiments/latency_datasets/speedup.py cpu-ort-t1 cpu-ort-t2 [--space ofa_mbv3_cifar] [--t2 FILE.csv]

Over the archs both measured (the last row of an arch, as `campaign.py --assemble` takes it): the 10th, 50th and
90th percentiles of the two-thread latency over the one-thread one, how many archs show no two-thread speed-up
(a ratio above 0.8), how many results are flagged noisy, and how many have a probe median more than
``--tolerance`` (default 0.15, the CPU devices' ``probe_tolerance``) above the fastest probe of the file. ``--t2`` reads the two-thread results from another file
(e.g. ``git show HEAD~1:<path> > old.csv``: the same figures before a recheck).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nasedge.measure.measurement import read_measurements_csv

DATA = Path(__file__).resolve().parents[2] / "latency_predictors" / "data"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("one")
    p.add_argument("two")
    p.add_argument("--space", default="ofa_mbv3_cifar")
    p.add_argument("--t2", type=Path, help="the two-thread results from this file instead")
    p.add_argument("--tolerance", type=float, default=0.15)
    args = p.parse_args()
    folder = DATA / args.space / "measurements"
    one = {m.arch_id: m for m in read_measurements_csv(folder / f"{args.one}.csv")}
    two = {m.arch_id: m for m in read_measurements_csv(args.t2 or folder / f"{args.two}.csv")}
    ids = sorted(set(one) & set(two))
    ratio = np.array([two[i].median_ms / one[i].median_ms for i in ids])
    p10, p50, p90 = np.percentile(ratio, [10, 50, 90])
    probes = [two[i].stats.probe_ms for i in ids if two[i].stats.probe_ms is not None]
    slow = sum(p > min(probes) * (1 + args.tolerance) for p in probes) if probes else 0
    print(f"{len(ids)} archs: {args.two}/{args.one} latency at the 10th/50th/90th percentile {p10:.3f} / {p50:.3f} / "
          f"{p90:.3f}; no speed-up (> 0.8) {int((ratio > 0.8).sum())}; flagged noisy "
          f"{sum(two[i].noisy for i in ids)}; above the probe limit {slow} of {len(probes)} with a probe")


if __name__ == "__main__":
    main()
