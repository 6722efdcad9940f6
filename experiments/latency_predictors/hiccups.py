"""Samples read slow: K of the target's 20 samples multiplied by FACTOR (a background job, a thermal throttle, a
run that waited for a core) before the predictors are fitted; every score is on the true latencies of the query
archs. Prints one line per benchmark and predictor: mean Spearman and within ±10 % over the targets.

    cd experiments/latency_predictors && OMP_NUM_THREADS=1 python hiccups.py --benches lodo ct-fb --slow 0 2
        --predictors meta totals regressor flops                          (about 5 min on one core)

Benchmarks as benches.py names them, the untrimmed protocol (20 samples, 5 folds, ``--seeds`` seeds); HELP's
protocol for ``help-*``. Which samples read slow is drawn from the samples' own values, so that every predictor
of a task sees the same ones.

Progress on stderr; nothing is written. Bad input (a flag's value, an unknown predictor, a missing dataset) is one
line, exit status 2, before the work.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, positive_int, run  # noqa: E402  (after the sys.path entry)

from benches import BENCHES, check_predictors, tasks  # noqa: E402

import nasedge.predict.profile as profile  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.base import LATENCY_RANGE_MS  # noqa: E402
from nasedge.predict.benchmark import evaluate  # noqa: E402
from nasedge.progress import progress_reporter  # noqa: E402


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


def count(text: str) -> int:
    """An argparse ``type``: how many samples read slow, 0 to the 20 a task has."""
    value = int(text)
    if not 0 <= value <= 20:
        raise ValueError(text)
    return value


count.__name__ = "count from 0 to 20"  # argparse: "invalid count from 0 to 20 value: '-1'"


def factor(text: str) -> float:
    """An argparse ``type``: a finite factor above 0 (a latency times 0 or less is none a predictor fits)."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


factor.__name__ = "factor above 0"


def main() -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0], prog="hiccups.py")
    ap.add_argument("--benches", nargs="+", choices=BENCHES, default=["lodo", "ct-fb"])
    ap.add_argument("--predictors", nargs="+", default=["meta", "totals", "regressor", "flops"])
    ap.add_argument("--slow", nargs="+", type=count, default=[0, 2], help="how many samples read slow (0 to 20)")
    ap.add_argument("--factor", type=factor, default=2.0)
    ap.add_argument("--seeds", type=positive_int, default=1)
    args = ap.parse_args()
    check_predictors(args.predictors)
    plain = profile.fit_with_more
    loaded = [(bench, *tasks(bench)) for bench in args.benches]  # a missing dataset says so before the work
    low, high = LATENCY_RANGE_MS
    for bench, ds, _ in loaded:
        y = ds.latency[np.isfinite(ds.latency)]
        if y.size and (y.min() * args.factor < low or y.max() * args.factor > high):
            lo, hi = y.min() * args.factor, y.max() * args.factor
            raise NasedgeError(f"--factor {args.factor:g}: puts latencies of {bench} at {lo:g} to {hi:g} ms; "
                               f"predictors fit latencies from {low:g} to {high:g} ms")
    total = sum(len(todo) for _, _, todo in loaded) * len(args.slow) * len(args.predictors)
    done = 0
    with progress_reporter("hiccups", total, unit="targets", interval=30) as update:
        for bench, ds, todo in loaded:
            for slow in args.slow:
                profile.fit_with_more = slowed(plain, slow, args.factor)  # run_task imports it at each call
                for predictor in args.predictors:
                    t, rows, cache = time.time(), [], {}
                    for target, kw in todo:
                        if predictor != "meta":
                            kw = {k: v for k, v in kw.items() if k != "options"}  # the stored prior: meta's alone
                        base = ({"seeds": 5} if kw.get("protocol") == "help" else
                                {"protocol": "untrimmed", "shots": 20, "seeds": args.seeds, "folds": 5})
                        r = evaluate(ds, target=target, predictor=predictor, meta_models=cache, **{**base, **kw})
                        rows.append((r["spearman"], 100 * r["within_10pct"]))
                        done += 1
                        update(done)
                    rho, within = np.mean(rows, axis=0)
                    print(f"{bench:8s} {slow} slow x{args.factor:g}  {predictor:10s} Spearman {rho:.4f}  "
                          f"within ±10 % {within:6.2f}  ({time.time() - t:.0f} s)", flush=True)
    profile.fit_with_more = plain
    return 0


if __name__ == "__main__":
    run(main)
