"""The noise ceiling of the accuracy figures: top-1 of the same subnets under other BatchNorm recalibration subsets.

Every accuracy figure recalibrates BatchNorm on 2,000 training images drawn with ``data.recalibration_seed=0``.
``plans/noise.sh`` evaluates max, min, mid and 150 random subnets (accuracy-dataset part 1) again with other
seeds; this script sets them beside seed 0 (``results/run6_augmented_recal``: ``eval_F03.jsonl`` for max, min
and mid, ``acc_dataset.jsonl`` for the random subnets, found by digest) and prints:

* per fixed subnet, top-1 under each seed, its standard deviation and the test split's binomial standard error;
* over the random subnets, the recalibration noise of one label (pooled standard deviation: the RMSE a perfect
  accuracy predictor would have against one seed's labels) and the Spearman between two seeds' labels.

    python experiments/cifar10_ofa/noise_ceiling.py experiments/cifar10_ofa/results/noise_recal
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.jsonlines import read_json_lines  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED0 = HERE / "results" / "run6_augmented_recal"
TEST_IMAGES = 10_000
NAMES = ("max", "min", "mid")  # the order plans/noise.sh evaluates them in


def _rows(path: Path) -> list[dict]:
    """The evaluations in ``path`` (``nasedge eval --out`` lines), or a one-line error naming the file and line."""
    rows = []
    for where, row in read_json_lines(path):
        if not isinstance(row, dict) or "digest" not in row or "top1" not in row:
            raise NasedgeError(f"{where}: not an evaluation line (expected an object with 'digest' and 'top1')")
        rows.append(row)
    if not rows:
        raise NasedgeError(f"{path}: holds no evaluation")
    return rows


def _seeds(folder: Path, kind: str) -> dict[int, list[dict]]:
    found = {}
    for path in sorted(folder.glob(f"{kind}_recal*.jsonl")):
        found[int(re.search(r"recal(\d+)", path.name).group(1))] = _rows(path)
    if not found:
        raise NasedgeError(f"{folder}: no {kind}_recal<K>.jsonl (plans/noise.sh's evaluations) there")
    return found


def _label(labels: dict, row: dict, path: Path) -> float:
    """Seed 0's top-1 of the subnet of ``row``, found by digest in ``path``'s ``labels``."""
    if row["digest"] not in labels:
        raise NasedgeError(f"subnet {row['digest']} is not in {path}: the results are of other subnets")
    return labels[row["digest"]]


def main() -> None:
    parser = ArgumentParser(prog="noise_ceiling.py", description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="folder with fixed_recal<K>.jsonl and random_recal<K>.jsonl")
    args = parser.parse_args()
    if not args.results.is_dir():
        raise NasedgeError(f"{args.results}: {'not a folder' if args.results.exists() else 'no such folder'}; "
                           f"expected the folder of plans/noise.sh's evaluations")

    fixed = _seeds(args.results, "fixed")
    random = _seeds(args.results, "random")  # both read before anything is printed
    by_digest = {r["digest"]: r["top1"] for r in _rows(SEED0 / "eval_F03.jsonl")}
    fixed.setdefault(0, [{"digest": r["digest"], "top1": _label(by_digest, r, SEED0 / "eval_F03.jsonl")}
                         for r in next(iter(fixed.values()))])
    seeds = sorted(fixed)
    print(f"recalibration seeds {seeds}; test split {TEST_IMAGES} images")
    print("| subnet | " + " | ".join(f"seed {k}" for k in seeds) + " | SD over seeds | binomial SE of the test split |")
    print("|---|" + "---|" * (len(seeds) + 2))
    for i, name in enumerate(NAMES):
        top1 = np.array([fixed[k][i]["top1"] for k in seeds])
        p = top1.mean() / 100
        se = 100 * math.sqrt(p * (1 - p) / TEST_IMAGES)
        cells = " | ".join(f"{t:.2f}" for t in top1)
        print(f"| {name} | {cells} | {top1.std(ddof=1):.3f} | {se:.2f} |")

    labels0 = {r["digest"]: r["top1"] for r in _rows(SEED0 / "acc_dataset.jsonl")}
    first = next(iter(random.values()))
    random.setdefault(0, [{"digest": r["digest"], "top1": _label(labels0, r, SEED0 / "acc_dataset.jsonl")}
                          for r in first])
    seeds = sorted(random)
    digests = [r["digest"] for r in first]
    table = np.array([[{r["digest"]: r["top1"] for r in random[k]}[d] for d in digests] for k in seeds])
    sd = math.sqrt(table.var(axis=0, ddof=1).mean())
    pairs = [spearmanr(table[a], table[b]).statistic for a, b in itertools.combinations(range(len(seeds)), 2)]
    spread = table.std(axis=1).mean()
    print(f"\n{len(digests)} random subnets, seeds {seeds}: top-1 spread across subnets (SD) {spread:.2f} points")
    print(f"recalibration noise of one label (pooled SD): {sd:.3f} points")
    print(f"largest change of one subnet between two seeds: {np.ptp(table, axis=0).max():.2f} points")
    print(f"Spearman between two seeds' labels: mean {np.mean(pairs):.3f} (min {np.min(pairs):.3f}, max {np.max(pairs):.3f})")


if __name__ == "__main__":
    run(main)
