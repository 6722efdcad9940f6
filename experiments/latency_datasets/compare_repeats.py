"""How well do independent repeats of a device's measurements agree, with each other and with the dataset?

    python experiments/latency_datasets/compare_repeats.py experiments/latency_datasets/results/h200_b1_4gpu

The folder holds ``p<k>/ofa_mbv3_w1.2/measurements/<device>.csv`` (plans/repeats.sh: one process per GPU, all
at once), or ``<device>.csv`` of a single repeat (results/h200_b1_repeat); only archs in every repeat count. Per device: each repeat's level against the per-arch median of the repeats, the median absolute
difference of every pair, the dataset against that median, and the share within 10 % of a ridge fit on
the arch encoding (5-fold cross-validated, all archs): the noise ceiling of an arch-based predictor on
that data.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from order_drift import arch_basis, ridge  # this script's folder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import REPO, ArgumentParser, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.measure.measurement import read_measurements_csv  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402

DATA = REPO / "latency_predictors" / "data" / "ofa_mbv3_w1.2"


def ceiling(x: np.ndarray, y: np.ndarray, folds: int = 5) -> float:
    pred = np.zeros_like(y)
    part = np.random.default_rng(0).permutation(len(y)) % folds
    for f in range(folds):
        tr, te = part != f, part == f
        pred[te] = x[te] @ ridge(x[tr], y[tr])
    return 100 * float(np.mean(np.abs(pred / y - 1) < 0.1))


def main() -> None:
    p = ArgumentParser(prog="compare_repeats.py", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("--data", type=Path, default=DATA, help="the dataset the repeats are of (default: %(default)s)")
    args = p.parse_args()
    if not args.folder.is_dir():
        raise NasedgeError(f"{args.folder}: {'not a folder' if args.folder.exists() else 'no such folder'}; "
                           f"expected a folder of repeats")
    pattern = f"p*/{args.data.name}/measurements" if list(args.folder.glob("p*/")) else "."
    devices = sorted({f.stem for f in args.folder.glob(f"{pattern}/*.csv")})
    if not devices:
        raise NasedgeError(f"{args.folder}: no repeats there (expected p<k>/{args.data.name}/measurements/<device>.csv "
                           f"or <device>.csv)")
    ds = load_dataset(args.data)
    enc, ids = ds.encoding, [str(i) for i in ds.arch_ids]
    x = arch_basis(enc, ds.items)
    for device in devices:
        if device not in ds.devices:
            raise NasedgeError(f"{args.folder}: device {device!r} is not in the dataset {args.data}")
        paths = sorted(args.folder.glob(f"{pattern}/{device}.csv"))
        runs = [{m.arch_id: m for m in read_measurements_csv(path)} for path in paths]
        rows = [k for k, i in enumerate(ids) if all(i in r for r in runs)]
        lat = np.array([[r[ids[k]].median_ms for r in runs] for k in rows])
        med = np.median(lat, 1)
        names = [path.parts[-4] if pattern != "." else "repeat" for path in paths]
        print(f"{device}: {len(rows)} archs in all {len(runs)} repeats; flagged noisy "
              + ", ".join(f"{n} {sum(m.noisy for m in r.values())}" for n, r in zip(names, runs)))
        print("  level against the median of the repeats: "
              + ", ".join(f"{n} {np.median(lat[:, j] / med):.3f}" for j, n in enumerate(names)))
        print("  pairs, median |difference|: " + ", ".join(
            f"{names[a]}-{names[b]} {100 * np.median(np.abs(lat[:, a] / lat[:, b] - 1)):.1f} %"
            for a, b in itertools.combinations(range(len(runs)), 2)))
        old = ds.column(device)[rows]
        print(f"  dataset against the median: median |difference| {100 * np.median(np.abs(old / med - 1)):.1f} %, "
              f"level {np.median(old / med):.3f}")
        print("  within 10 % of a cross-validated ridge fit: dataset "
              f"{ceiling(x[rows], old):.1f} %, " + ", ".join(f"{n} {ceiling(x[rows], lat[:, j]):.1f} %"
                                                       for j, n in enumerate(names))
              + f", median of the repeats {ceiling(x[rows], med):.1f} %")


if __name__ == "__main__":
    run(main)
