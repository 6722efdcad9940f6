"""Does a device's latency drift with measurement order? And does a repeat measurement reproduce it?

    python experiments/latency_datasets/order_drift.py                       # every device of the w1.2 dataset
    python experiments/latency_datasets/order_drift.py --repeat experiments/latency_datasets/results/h200_b1_repeat

Drift: a ridge fit of each device's latency on the arch encoding (one-hot + cost features, in-sample),
then the median relative residual per block of 100 arch ids. Archs are measured in id order (after
the reference archs), so a trend across blocks is the machine changing, not the archs, whose ids are
random. Repeat: for each ``<device>.csv`` in the folder (written by measure_gpu.py or nasedge measure),
the ratio of the repeat to the dataset per block of ids, and per arch for a ``second_process/`` folder
measured right after by another process.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from nasedge.arch import read_archs_jsonl
from nasedge.measure.measurement import read_measurements_csv
from nasedge.predict.encodings import get_encoding
from nasedge.spaces import get_space

DATA = Path("latency_predictors/data/ofa_mbv3_w1.2")


def arch_basis(enc, items) -> np.ndarray:
    """One-hot choices and cost features, each scaled to at most 1, plus a constant."""
    x = np.concatenate([enc.onehot(items), enc.features(items)], 1)
    return np.concatenate([x / np.maximum(np.abs(x).max(0), 1e-9), np.ones((len(x), 1))], 1)


def ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights of a ridge fit of ``y`` on ``x`` (a touch of ridge for conditioning)."""
    return np.linalg.solve(x.T @ x + 1e-3 * np.eye(x.shape[1]), x.T @ y)


def medians(path: Path) -> dict[int, float]:
    return {int(m.arch_id): m.median_ms for m in read_measurements_csv(path)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--repeat", type=Path, help="folder of <device>.csv measured again")
    args = p.parse_args()
    rows = list(csv.DictReader(open(args.data / "latency_ms.csv")))
    devices = [c for c in rows[0] if c != "arch_id"]
    table = {d: {int(r["arch_id"]): float(r[d]) for r in rows if r[d]} for d in devices}

    if args.repeat is None:
        enc = get_encoding(get_space("ofa_mbv3_w1.2"))
        archs = {int(i): a for i, a in read_archs_jsonl(args.data / "archs.jsonl")}
        ids = sorted(archs)
        items = [archs[i] for i in ids]
        x = arch_basis(enc, items)
        print("device: median residual (%) per block of 100 arch ids; corr(residual, id)")
        for d in devices:
            y = np.array([table[d][i] for i in ids])
            res = (y - x @ ridge(x, y)) / y
            first = np.array(ids) < 1000
            blocks = [float(np.median(res[first][i:i + 100])) * 100 for i in range(0, int(first.sum()), 100)]
            corr = np.corrcoef(np.array(ids)[first], res[first])[0, 1]
            print(f"{d:22s} {' '.join(f'{b:+5.1f}' for b in blocks)}   {corr:+.2f}")
        return

    for path in sorted(args.repeat.glob("*.csv")):
        d = path.stem
        again = medians(path)
        ids = np.array(sorted(i for i in again if i in table.get(d, {})))
        ratio = np.array([again[i] / table[d][i] for i in ids])
        print(f"{d}: {len(ids)} archs, repeat / dataset median {np.median(ratio):.3f}, "
              f"median |difference| {np.median(np.abs(ratio - 1)) * 100:.1f} %")
        # the dataset's H200 batch-1 columns were measured by three processes: ids 0-224, 225-799, 800-999
        for lo, hi in ((0, 225), (225, 500), (500, 800), (800, 1000), (1000, None)):
            m = (ids >= lo) & (ids < (hi or ids.max() + 1))
            if m.any():
                q1, q3 = np.percentile(ratio[m], [25, 75])
                what = f"ids {lo:4d}-{hi - 1:4d}" if hi else "reference archs"
                print(f"  {what}: {m.sum():3d} archs, ratio median {np.median(ratio[m]):.3f} (IQR {q1:.3f}-{q3:.3f})")
        second = args.repeat / "second_process" / path.name
        if second.exists():
            s = medians(second)
            r = [s[i] / again[i] for i in sorted(s)]
            print(f"  a second process right after, same archs: ratio {min(r):.3f}-{max(r):.3f} "
                  f"(median {np.median(r):.3f}, {len(r)} archs)")
    files = sorted(args.repeat.glob("*.csv"))
    if len(files) == 2:
        a, b = medians(files[0]), medians(files[1])
        ids = sorted(set(a) & set(b))
        print(f"correlation {files[0].stem} vs {files[1].stem}: repeat {np.corrcoef([a[i] for i in ids], [b[i] for i in ids])[0, 1]:.3f}, "
              f"dataset {np.corrcoef([table[files[0].stem][i] for i in ids], [table[files[1].stem][i] for i in ids])[0, 1]:.3f} "
              f"(same {len(ids)} archs)")


if __name__ == "__main__":
    main()
