"""The active design's weight on the one-hot choices (``CHOICE_VARIANCE``, 1 shipped) on one benchmark: ``meta`` with
the active choice, 20 samples, mean Spearman and within ±10 % over the targets (eleventh session of issue 20).

    python experiments/latency_predictors/tried/active_choice_variance.py 0.1 ct-fb 3    (variance, benchmark, seeds)

Benchmarks of benches.py but HELP's (ct-fb, ct-nb, ctr-ofa, lodo, transfer, ...); 1-4 min each on one core.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import nasedge.predict.active as A  # noqa: E402  (after the sys.path entry)
from nasedge.predict.benchmark import evaluate  # noqa: E402
from benches import tasks  # noqa: E402

variance, bench, seeds = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
shipped = A.design_basis
A.design_basis = lambda enc, items, choice_variance=variance: shipped(enc, items, variance)
ds, todo = tasks(bench)
rho, w10 = [], []
for target, kw in todo:
    r = evaluate(ds, target, "meta", protocol="untrimmed", shots=20, folds=5, seeds=seeds, active=True, **kw)
    rho.append(r["spearman"])
    w10.append(100 * r["within_10pct"])
print(json.dumps({"choice_variance": variance, "bench": bench, "spearman": round(float(np.mean(rho)), 4),
                  "within_10pct": round(float(np.mean(w10)), 2)}), flush=True)
