"""Samples read slow: K of the target's 20 samples multiplied by FACTOR (a background job, a thermal throttle, a
run that waited for a core) before the predictors are fitted; every score is on the true latencies of the query
archs. Prints one line per benchmark and predictor: mean Spearman and within ±10 % over the targets.

    cd experiments/latency_predictors && OMP_NUM_THREADS=1 python hiccups.py --benches lodo ct-fb --slow 0 2
        --predictors meta totals regressor flops                          (about 5 min on one core)

Benchmarks as benches.py names them, the untrimmed protocol (20 samples, 5 folds, ``--seeds`` seeds); HELP's
protocol for ``help-*``. Which samples read slow is drawn from the samples' own values, so that every predictor
of a task sees the same ones.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from benches import BENCHES, tasks

import nasedge.predict.profile as profile
from nasedge.predict.benchmark import evaluate


def slowed(fit_with_more: Callable, count: int, factor: float) -> Callable:
    """``fit_with_more`` whose samples have ``count`` of them multiplied by ``factor``."""
    def fit(name, encoding, first, total, samples, **options):
        def load(n):
            items, y = samples(n)
            y = np.array(y, dtype=np.float64)
            rng = np.random.default_rng(int(abs(y[0]) * 1e6) % 2**32)
            y[rng.choice(len(y), min(count, len(y)), replace=False)] *= factor
            return items, y
        return fit_with_more(name, encoding, first, total, load, **options)
    return fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benches", nargs="+", choices=BENCHES, default=["lodo", "ct-fb"])
    ap.add_argument("--predictors", nargs="+", default=["meta", "totals", "regressor", "flops"])
    ap.add_argument("--slow", nargs="+", type=int, default=[0, 2], help="how many samples read slow")
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    plain = profile.fit_with_more
    for bench in args.benches:
        ds, todo = tasks(bench)
        for count in args.slow:
            profile.fit_with_more = slowed(plain, count, args.factor)  # run_task imports it at each call
            for predictor in args.predictors:
                t, rows, cache = time.time(), [], {}
                for target, kw in todo:
                    if predictor != "meta":
                        kw = {k: v for k, v in kw.items() if k != "options"}  # the stored prior: meta's alone
                    base = ({"seeds": 5} if kw.get("protocol") == "help" else
                            {"protocol": "untrimmed", "shots": 20, "seeds": args.seeds, "folds": 5})
                    r = evaluate(ds, target=target, predictor=predictor, meta_models=cache, **{**base, **kw})
                    rows.append((r["spearman"], 100 * r["within_10pct"]))
                rho, within = np.mean(rows, axis=0)
                print(f"{bench:8s} {count} slow x{args.factor:g}  {predictor:10s} Spearman {rho:.4f}  "
                      f"within ±10 % {within:6.2f}  ({time.time() - t:.0f} s)", flush=True)
    profile.fit_with_more = plain


if __name__ == "__main__":
    main()
