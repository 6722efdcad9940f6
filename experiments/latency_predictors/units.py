"""Do the predictors' figures hang on the unit? Every device of a dataset timed k times faster or slower (all
latencies times k, sources and target alike), benchmarked as measured: the figures must not move.

  python experiments/latency_predictors/units.py        # fbnet, 3 targets, 4 predictors, 3 units; ~6 min, one core

The default targets include a phone, which reports whole milliseconds: times 0.001 it reports whole
microseconds, the rounding `meta` has to recognise in any unit; fpga and gold_6226 are timed finely.
"""

from __future__ import annotations

import argparse
import dataclasses

from nasedge.predict.benchmark import evaluate
from nasedge.predict.dataset import load_dataset

GPUS = "1080ti_1,1080ti_32,2080ti_1,2080ti_32,titan_rtx_1,titan_rtx_32,pixel3,samsung_a50"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/latency/help/fbnet")
    ap.add_argument("--targets", default="pixel2,fpga,gold_6226")
    ap.add_argument("--sources", default=GPUS)
    ap.add_argument("--predictors", default="meta,flops,regressor,totals")
    ap.add_argument("--units", default="1,0.001,1000", help="factors applied to every latency")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    ds = load_dataset(args.data)
    print("| target | predictor | " + " | ".join(f"x {k}" for k in args.units.split(",")) + " |")
    print("|---" * (2 + len(args.units.split(","))) + "|")
    for target in args.targets.split(","):
        for predictor in args.predictors.split(","):
            cells = []
            for k in map(float, args.units.split(",")):
                scaled = dataclasses.replace(ds, latency=ds.latency * k)
                r = evaluate(scaled, target, predictor, protocol="untrimmed", shots=20, seeds=args.seeds,
                             sources=args.sources.split(","))
                cells.append(f"{r['spearman']:.4f} / {100 * r['within_10pct']:.1f} %")
            print(f"| {target} | {predictor} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
