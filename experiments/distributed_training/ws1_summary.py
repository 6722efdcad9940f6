"""Images/s of plain and DDP (world size 1) launches of ws1_overhead.sh, with their spread.

Epoch 1 and 2 are left out by default: they build cuDNN plans for each new conv shape of the random
subnets (about 100 steps, experiments/cifar10_ofa/README.md), the same in both modes.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("launches", help="lines '<index> <mode> <out_dir>'")
    ap.add_argument("--skip-epochs", type=int, default=2)
    args = ap.parse_args()
    runs = []
    for line in Path(args.launches).read_text().splitlines():
        i, mode, out = line.split()
        if not (Path(out) / "metrics.json").exists():  # a launch that failed or was cut short
            continue
        metrics = json.loads((Path(out) / "metrics.json").read_text())
        rates = [m["images_per_s"] for m in metrics[args.skip_epochs:]]
        runs.append({"launch": int(i), "mode": mode, "images_per_s": [round(r, 1) for r in rates],
                     "mean": round(statistics.fmean(rates), 1),
                     "loss": [round(m["loss"], 5) for m in metrics], "subnets": [m["subnets"] for m in metrics]})
    summary: dict = {"runs": runs}
    for mode in ("plain", "ddp"):
        means = [r["mean"] for r in runs if r["mode"] == mode]
        if means:
            summary[mode] = {"mean": round(statistics.fmean(means), 1), "min": min(means), "max": max(means),
                             "stdev": round(statistics.stdev(means), 1) if len(means) > 1 else None}
    if "plain" in summary and "ddp" in summary:
        summary["ddp_over_plain"] = round(summary["ddp"]["mean"] / summary["plain"]["mean"], 4)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
