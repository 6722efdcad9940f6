"""Inner loop of issue 20's fourth session: `meta` only, untrimmed benchmarks with SEEDS seeds (default 1) x 5 folds,
HELP with 5 seeds; VARIANT is `base` or a name in variants.py (functions of nasedge.predict.meta patched).

    SEEDS=1 python experiments/latency_predictors/tried/inner_loop.py base
    SEEDS=3 python experiments/latency_predictors/tried/inner_loop.py hier ct-fb ctr-ofa
    ACTIVE=1 python experiments/latency_predictors/tried/inner_loop.py act_noise1 ct-fb transfer  (active choice)
    SHOTS=10 python experiments/latency_predictors/tried/inner_loop.py base ct-fb  (10 samples on the target, not 20)
    benches: help-nb help-fb ct-fb ct-nb ctr-ofa lodo transfer ct-ofa ctr-fb (default: all)
Prints one line per benchmark (mean Spearman, mean within 10 %) and writes inner_<variant>_s<SEEDS>_<benches>.json
into the working directory, which must be outside the source tree (rewritten whole, atomically, after each
benchmark). Bad input (a variant, a benchmark, SEEDS or SHOTS) is one line, exit status 2, before the work."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'experiments'))  # expcli
sys.path.insert(0, str(ROOT / 'experiments' / 'latency_predictors'))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import outside_the_tree, plain_args, positive_int, run  # noqa: E402  (after the sys.path entry)

from benches import check_benches, tasks  # noqa: E402  (the benchmarks' datasets, targets and sources)
from nasedge.atomic import atomic_write_text  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.benchmark import evaluate  # noqa: E402

ALL = ['help-nb', 'help-fb', 'ct-fb', 'ct-nb', 'ctr-ofa', 'lodo', 'transfer', 'ct-ofa', 'ctr-fb']


def setting(name, default):
    """``$name`` as a count of at least 1 (``default`` where unset), else a one-line error naming it."""
    text = os.environ.get(name, str(default))
    try:
        return positive_int(text)
    except ValueError:
        raise NasedgeError(f"{name}={text}: expected an integer of at least 1") from None


def main():
    variant, *benches = plain_args(__doc__, "VARIANT [BENCH...]")
    benches = check_benches(benches or ALL)
    seeds = setting('SEEDS', 1)  # untrimmed benchmarks: seeds (x 5 folds)
    shots = setting('SHOTS', 20)  # untrimmed benchmarks: samples on the target
    active = os.environ.get('ACTIVE') == '1'  # untrimmed: the samples after the reference archs chosen actively
    if variant != 'base':
        __import__('variants').apply(variant)
    path = outside_the_tree("the working folder (where inner_*.json go)", Path.cwd()) / (
        f'inner_{variant}{"_active" if active else ""}{"_shots%d" % shots if shots != 20 else ""}_s{seeds}_'
        + '-'.join(benches) + '.json')
    out = {}
    for name in benches:
        ds, todo = tasks(name)
        t = time.time()
        rows = {}
        mm = {}
        for tg, kw in todo:
            base = ({'seeds': 5} if kw.get('protocol') == 'help'
                    else {'protocol': 'untrimmed', 'shots': shots, 'seeds': seeds, 'folds': 5, 'active': active})
            r = evaluate(ds, target=tg, predictor='meta', meta_models=mm, **base, **kw)
            rows[tg] = (r['spearman'], r['within_10pct'] * 100)
        sp = np.mean([v[0] for v in rows.values()])
        w = np.mean([v[1] for v in rows.values()])
        print(f"{variant:24s} {name:9s} rho {sp:.4f} w10 {w:6.2f}  ({time.time()-t:.0f}s)", flush=True)
        out[name] = {'mean': [sp, w], 'rows': rows}
        atomic_write_text(path, json.dumps(out, indent=1))  # what is done is kept, whatever stops the rest


if __name__ == '__main__':
    run(main)
