"""How much a benchmark's mean moves with the draw of the target's samples: ``meta``'s mean over the targets, per
seed, and its standard error over the seeds (the benchmark's own noise, beside the devices' noise the oracle shows).

  python experiments/latency_predictors/seed_spread.py ct-nb --out /tmp/spread-ct-nb.jsonl   (1-3 min, one core)

Benchmarks: ``help-nb``, ``help-fb`` (HELP's protocol, its test devices, ``--seeds 5``); the untrimmed protocol
(20 samples, 5 folds, as run.py): ``ct-fb``, ``ct-nb`` (GPU sources, the other devices as targets), ``ctr-ofa``
(our CPUs as sources, the GPUs as targets), ``lodo`` (every OFA device in turn), ``transfer`` (the shipped prior on
the CIFAR space); run.py uses 3 seeds for the cross-type ones, 5 for the others. One JSON line per target, appended
as each is done, so an interrupted run resumes; the summary is printed from the file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from nasedge.atomic import durable_append
from nasedge.jsonlines import read_appended_json_lines
from nasedge.predict.benchmark import HELP_SPLITS, evaluate
from nasedge.predict.dataset import load_dataset
from nasedge.resources import shipped_path

ROOT = Path(__file__).resolve().parents[2]
H = Path(os.environ.get("NASEDGE_DATASETS", ROOT.parent / "shared" / "datasets")) / "latency" / "help"
OURS = str(ROOT / "latency_predictors" / "data" / "ofa_mbv3_w1.2")
GPU = ("1080ti", "2080ti", "titan", "v100", "h200")


def tasks(bench: str):
    """``(dataset, [(target, evaluate options)])`` of a benchmark."""
    if bench in ("help-nb", "help-fb"):
        ds = load_dataset(str(H / {"help-nb": "nasbench201", "help-fb": "fbnet"}[bench]), None)
        return ds, [(t, {"protocol": "help", "shots": 10}) for t in HELP_SPLITS[ds.encoding.name]["test"]]
    if bench in ("ct-fb", "ct-nb"):
        ds = load_dataset(str(H / {"ct-fb": "fbnet", "ct-nb": "nasbench201"}[bench]), None)
        gpus = [d for d in ds.devices if d.startswith(GPU)]
        return ds, [(t, {"sources": gpus}) for t in ds.devices if t not in gpus]
    if bench in ("ctr-ofa", "lodo"):
        ds = load_dataset([str(H / "ofa"), OURS], None)
        if bench == "lodo":
            return ds, [(t, {}) for t in ds.devices]
        others = [d for d in ds.devices if not d.startswith(GPU)]
        return ds, [(t, {"sources": others}) for t in ds.devices if t not in others]
    if bench == "transfer":
        ds = load_dataset(str(ROOT / "latency_predictors" / "data" / "ofa_mbv3_cifar"), None)
        weights = str(shipped_path("latency_predictors") / "meta" / f"{ds.encoding.family}.npz")
        return ds, [(t, {"options": {"weights": weights}}) for t in ds.devices]
    raise SystemExit(f"unknown benchmark {bench!r}; known: help-nb, help-fb, ct-fb, ct-nb, ctr-ofa, lodo, transfer")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, one per target (resumes)")
    ap.add_argument("--seeds", type=int, default=3, help="3 as run.py's cross-type runs; 5 for lodo, transfer, help")
    args = ap.parse_args()
    ds, todo = tasks(args.bench)
    done = {r["target"] for r in read_appended_json_lines(args.out, "seed-spread results", "a target")}
    for i, (target, kw) in enumerate(todo):
        if target in done:
            continue
        kw = {"protocol": "untrimmed", "shots": 20, "folds": 5, **kw}
        r = evaluate(ds, target, "meta", seeds=args.seeds, **kw)
        line = {"target": target, "per_seed": [{k: q[k] for k in ("spearman", "within_10pct")} for q in r["per_seed"]]}
        durable_append(args.out, (json.dumps(line) + "\n").encode())
        print(f"{args.bench}: {target} done ({i + 1} of {len(todo)})", flush=True)
    rows = read_appended_json_lines(args.out, "seed-spread results", "a target")
    for metric, scale in (("spearman", 1), ("within_10pct", 100)):
        per_seed = scale * np.mean([[s[metric] for s in r["per_seed"]] for r in rows], axis=0)
        se = per_seed.std(ddof=1) / np.sqrt(len(per_seed))
        print(f"{args.bench} {metric}: mean {per_seed.mean():.4f}, per seed "
              f"{', '.join(f'{v:.4f}' for v in per_seed)}, standard error over seeds {se:.4f}")


if __name__ == "__main__":
    main()
