"""Scaling efficiency from a scaling.sh run: images/s at N GPUs against N times the images/s at 1 GPU.

  python experiments/distributed_training/scaling_summary.py RESULTS_DIR   # holds scaling.jsonl, train_<N>.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--skip-epochs", type=int, default=1, help="real launches: epochs left out (cuDNN plan building)")
    args = ap.parse_args()
    out: dict = {"bench": {}, "train": {}}
    lines = (args.results / "scaling.jsonl")
    for line in (lines.read_text().splitlines() if lines.exists() else []):
        r = json.loads(line)
        rows = out["bench"].setdefault(r["label"], {})
        rows[r["world_size"]] = {m: r[m]["images_per_s"] for m in r["ms_per_step"]} | {
            "ms_stdev_over_mean": {m: round(r[m]["ms_stdev"] / r[m]["ms_mean"], 3)
                                   for m in r["ms_per_step"] if r[m]["ms_stdev"] is not None},
            "gpu_util_percent": r["gpu_util_percent"]}
    for rows in out["bench"].values():
        if 1 in rows:
            for n, row in rows.items():
                row["efficiency"] = {m: round(row[m] / (n * rows[1][m]), 3)
                                     for m in ("ddp", "local", "ddp_no_teacher") if m in row and m in rows[1]}
    for f in sorted(args.results.glob("train_*.json"), key=lambda p: int(p.stem.split("_")[1])):
        n = int(f.stem.split("_")[1])
        metrics = json.loads(f.read_text())
        rates = [m["images_per_s"] for m in metrics[args.skip_epochs:]] or [m["images_per_s"] for m in metrics]
        out["train"][n] = {"images_per_s": round(statistics.fmean(rates), 1),
                           "epochs": [round(m["images_per_s"], 1) for m in metrics],
                           "loss": [round(m["loss"], 5) for m in metrics]}
    if 1 in out["train"]:
        for n, row in out["train"].items():
            row["efficiency"] = round(row["images_per_s"] / (n * out["train"][1]["images_per_s"]), 3)
    for name in ("resume", "resume_ref"):
        f = args.results / f"{name}.json"
        if f.exists():
            out[name] = [{"phase": m.get("phase"), "epoch": m.get("epoch"), "loss": round(m["loss"], 5),
                          "images_per_s": round(m["images_per_s"], 1)} for m in json.loads(f.read_text())]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
