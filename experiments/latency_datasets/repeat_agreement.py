"""How far a second measurement of the same archs (another process, later) agrees with the first.

    python experiments/latency_datasets/repeat_agreement.py FIRST.csv REPEAT.csv [REPEAT.csv ...]

For each repeat, over the archs both hold: the ratio of its median to the first's (median and interquartile
range), the share within ±10 % and ±2 %, Spearman between the two, and how many the repeat flagged noisy.
"""
from __future__ import annotations

import sys

import numpy as np
from scipy.stats import spearmanr

from nasedge.measure.measurement import read_measurements_csv


def main() -> None:
    first = {m.arch_id: m for m in read_measurements_csv(sys.argv[1])}
    for path in sys.argv[2:]:
        again = [m for m in read_measurements_csv(path) if m.arch_id in first]
        x = np.array([first[m.arch_id].median_ms for m in again])
        y = np.array([m.median_ms for m in again])
        r = y / x
        q25, q50, q75 = np.percentile(r, [25, 50, 75])
        print(f"{path}: {len(again)} archs; ratio median {q50:.3f} (interquartile {q25:.3f}-{q75:.3f}); "
              f"within 10 % {100 * np.mean(np.abs(r - 1) <= 0.10):.1f} %, within 2 % "
              f"{100 * np.mean(np.abs(r - 1) <= 0.02):.1f} %; Spearman {spearmanr(x, y).statistic:.3f}; "
              f"{sum(m.noisy for m in again)} flagged noisy")


if __name__ == "__main__":
    main()
