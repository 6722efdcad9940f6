"""How much a benchmark's mean moves with the draw of the target's samples: ``meta``'s mean over the targets, per
seed, and its standard error over the seeds (the benchmark's own noise, beside the devices' noise the oracle shows).

  python experiments/latency_predictors/seed_spread.py ct-nb --out /tmp/spread-ct-nb.jsonl   (1-3 min, one core)

Benchmarks: those of benches.py; HELP's protocol for ``help-*`` (``--seeds 5``), else the untrimmed one (20
samples, 5 folds, as run.py, which uses 3 seeds for the cross-type ones, 5 for the others). One JSON line per
target, appended as each is done, so an interrupted run resumes; the summary is printed from the file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benches import BENCHES, tasks

from nasedge.atomic import durable_append
from nasedge.jsonlines import read_appended_json_lines
from nasedge.predict.benchmark import evaluate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", choices=BENCHES)
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
