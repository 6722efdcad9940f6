"""Inner loop of issue 20's fourth session: `meta` only, untrimmed benchmarks with SEEDS seeds (default 1) x 5 folds,
HELP with 5 seeds; VARIANT is `base` or a name in variants.py (functions of nasedge.predict.meta patched).

    SEEDS=1 python experiments/latency_predictors/tried/inner_loop.py base
    SEEDS=3 python experiments/latency_predictors/tried/inner_loop.py hier ct-fb ctr-ofa
    ACTIVE=1 python experiments/latency_predictors/tried/inner_loop.py act_noise1 ct-fb transfer  (active choice)
    SHOTS=10 python experiments/latency_predictors/tried/inner_loop.py base ct-fb  (10 samples on the target, not 20)
    benches: help-nb help-fb ct-fb ct-nb ctr-ofa lodo transfer ct-ofa ctr-fb (default: all)
Prints one line per benchmark (mean Spearman, mean within 10 %) and writes inner_<variant>_s<SEEDS>_<benches>.json
into the working directory."""
import sys
import json
import time
import importlib
import numpy as np
from pathlib import Path
import os
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'experiments' / 'latency_predictors'))
from benches import tasks  # noqa: E402  (the benchmarks' datasets, targets and sources)
from nasedge.predict.benchmark import evaluate  # noqa: E402  (after the sys.path entry)
variant = sys.argv[1]
benches = sys.argv[2:] or ['help-nb', 'help-fb', 'ct-fb', 'ct-nb', 'ctr-ofa', 'lodo', 'transfer', 'ct-ofa', 'ctr-fb']
sys.path.insert(0, str(Path(__file__).resolve().parent))
if variant != 'base':
    importlib.import_module('variants').apply(variant)
out = {}
SEEDS = int(os.environ.get('SEEDS', 1))  # untrimmed benchmarks: seeds (x 5 folds)
SHOTS = int(os.environ.get('SHOTS', 20))  # untrimmed benchmarks: samples on the target
ACTIVE = os.environ.get('ACTIVE') == '1'  # untrimmed benchmarks: the samples after the reference archs chosen actively


def run(name, ds, todo):
    t = time.time()
    rows = {}
    mm = {}
    for tg, kw in todo:
        base = ({'seeds': 5} if kw.get('protocol') == 'help'
                else {'protocol': 'untrimmed', 'shots': SHOTS, 'seeds': SEEDS, 'folds': 5, 'active': ACTIVE})
        r = evaluate(ds, target=tg, predictor='meta', meta_models=mm, **base, **kw)
        rows[tg] = (r['spearman'], r['within_10pct'] * 100)
    sp = np.mean([v[0] for v in rows.values()])
    w = np.mean([v[1] for v in rows.values()])
    print(f"{variant:24s} {name:9s} rho {sp:.4f} w10 {w:6.2f}  ({time.time()-t:.0f}s)", flush=True)
    out[name] = {'mean': [sp, w], 'rows': rows}


for b in benches:
    run(b, *tasks(b))
json.dump(out, open(f'inner_{variant}{"_active" if ACTIVE else ""}{"_shots%d" % SHOTS if SHOTS != 20 else ""}_s{SEEDS}_'+'-'.join(benches)+'.json', 'w'), indent=1)
