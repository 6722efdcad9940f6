"""Held-out quality of the accuracy predictor, then the shipped predictor fitted on all subnets.

    python experiments/cifar10_ofa/fit_accuracy_predictor.py results/run3_teacher_batch_bn/acc_dataset.jsonl \
        [--save nasedge/assets/cifar10_ofa_mbv3/accuracy_predictor.json] [--splits 3] [--test 400]

A thin caller of the library (``nasedge accuracy fit`` is the verb; it always writes a predictor). Each
split holds out --test random subnets, fits on the rest, and reports RMSE (points) and Spearman rho on the
held-out ones. With --save, the predictor fitted on every subnet is written there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nasedge.errors import NasedgeError
from nasedge.predict.accuracy import AccuracyPredictor, held_out_scores, load_accuracy_dataset
from nasedge.spaces import get_space


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path)
    p.add_argument("--splits", type=int, default=3)
    p.add_argument("--test", type=int, default=400)
    p.add_argument("--save", type=Path)
    p.add_argument("--meta", default="{}", help="JSON object stored in the saved predictor's meta")
    args = p.parse_args()
    archs, top1 = load_accuracy_dataset(args.dataset)
    space = get_space(archs[0].space)
    print(f"{len(archs)} subnets; top-1 mean {top1.mean():.2f}, std {top1.std():.2f}, "
          f"range {top1.min():.2f}-{top1.max():.2f}")
    # the share that holds out exactly --test subnets (held_out_scores rounds it down)
    results = held_out_scores(space, archs, top1, args.splits, (args.test + 0.5) / len(archs))
    for r in results:
        print(f"split {r['split']}: fit on {r['fit_on']}, held out {r['held_out']}: RMSE {r['rmse']:.3f} points, "
              + (f"Spearman {r['spearman']:.3f}" if r["spearman"] is not None else "no Spearman (too few held out)"))
    print(json.dumps({"splits": results}))
    if args.save:
        meta = {"source": str(args.dataset), **json.loads(args.meta)}
        AccuracyPredictor(space).fit(archs, top1).save(args.save, meta=meta)
        print(f"saved {args.save}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NasedgeError as exc:  # bad input: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
