"""How far a second measurement of the same archs (another process, later) agrees with the first.

    python experiments/latency_datasets/repeat_agreement.py FIRST.csv REPEAT.csv [REPEAT.csv ...]

For each repeat, over the archs both hold: the ratio of its median to the first's (median and interquartile
range), the share within ±10 % and ±2 %, Spearman between the two, and how many the repeat flagged noisy.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.measure.measurement import read_measurements_csv  # noqa: E402


def main() -> None:
    p = ArgumentParser(prog="repeat_agreement.py", description=__doc__.splitlines()[0])
    p.add_argument("first", help="the first measurements (measurements/<device>.csv)")
    p.add_argument("repeats", nargs="+", help="measurements of the same archs taken again")
    args = p.parse_args()
    first = {m.arch_id: m for m in read_measurements_csv(args.first)}
    repeats = {path: read_measurements_csv(path) for path in args.repeats}  # every file read before any output
    for path, measured in repeats.items():
        again = [m for m in measured if m.arch_id in first]
        if not again:
            raise NasedgeError(f"{path}: no arch in common with {args.first}")
        x = np.array([first[m.arch_id].median_ms for m in again])
        y = np.array([m.median_ms for m in again])
        r = y / x
        q25, q50, q75 = np.percentile(r, [25, 50, 75])
        print(f"{path}: {len(again)} archs; ratio median {q50:.3f} (interquartile {q25:.3f}-{q75:.3f}); "
              f"within 10 % {100 * np.mean(np.abs(r - 1) <= 0.10):.1f} %, within 2 % "
              f"{100 * np.mean(np.abs(r - 1) <= 0.02):.1f} %; Spearman {spearmanr(x, y).statistic:.3f}; "
              f"{sum(m.noisy for m in again)} flagged noisy")


if __name__ == "__main__":
    run(main)
