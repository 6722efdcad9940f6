"""The active design's weight on the one-hot choices (``CHOICE_VARIANCE``, 1 shipped) on one benchmark: ``meta`` with
the active choice, 20 samples, mean Spearman and within ±10 % over the targets (eleventh session of issue 20).

    python experiments/latency_predictors/tried/active_choice_variance.py 0.1 ct-fb 3    (variance, benchmark, seeds)

Benchmarks of benches.py but HELP's (ct-fb, ct-nb, ctr-ofa, lodo, transfer, ...); 1-4 min each on one core.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.active as A  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.benchmark import evaluate  # noqa: E402
from benches import check_benches, tasks  # noqa: E402


def main():
    variance, bench, seeds = plain_args(__doc__, "VARIANCE BENCH SEEDS", 3, 3)
    try:
        variance, seeds = float(variance), int(seeds)
    except ValueError:
        raise NasedgeError(f"{variance} {seeds}: expected VARIANCE a number, SEEDS an integer") from None
    if not variance >= 0 or seeds < 1:
        raise NasedgeError(f"variance {variance:g}, seeds {seeds}: expected VARIANCE 0 or more, SEEDS 1 or more")
    if bench.startswith("help"):
        raise NasedgeError(f"benchmark {bench!r}: active choice is for the untrimmed benchmarks, not HELP's")
    check_benches([bench])
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


if __name__ == '__main__':
    run(main)
