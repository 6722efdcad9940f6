"""The blend with each candidate recalibrated on its own leave-one-out predictions (twelfth session of issue 20):
``a + b * prediction``, fitted on the relative errors of the 20 leave-one-out predictions (and, for the leave-one-out
error of the recalibrated candidate, again without each sample). Spearman does not see a candidate's scale, the
blend's error rule does; recalibrated, a candidate that ranks well but sits off in level would count for what it
ranks. Run in the folder holding cache_<bench>.pkl (blend_cache.py):

    python experiments/latency_predictors/tried/calibrated.py prior|all|plus ct-fb ctr-ofa lodo ...

`prior`: only the prior-based head recalibrated; `all`: every candidate; `plus`: the recalibrated ones as extra
candidates beside the others.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from blend_variants import read_cache, score  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402


def line(loo, y):
    """``(a, b)`` of ``y ~ a + b * loo`` on relative errors."""
    return np.linalg.lstsq(np.c_[np.ones_like(loo), loo] / y[:, None], np.ones_like(y), rcond=None)[0]


def recalibrated(loo, y, query):
    """The recalibrated leave-one-out predictions (the line fitted without each sample) and query predictions."""
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        a, b = line(loo[keep], y[keep])
        out[i] = a + b * loo[i]
    a, b = line(loo, y)
    return out, a + b * query


def main():
    mode, *benches = plain_args(__doc__, "prior|all|plus BENCH...", 2)
    if mode not in ('prior', 'all', 'plus'):
        raise NasedgeError(f"mode {mode!r}: expected prior, all or plus")
    for bench in benches:
        tasks = read_cache(bench)
        loos, qps = [], []
        for t in tasks:
            loo, qp = dict(t['loo']), dict(t['qp'])
            for k in (['prior'] if mode == 'prior' else list(t['loo'])):
                name = f'{k}-recalibrated' if mode == 'plus' else k
                loo[name], qp[name] = recalibrated(t['loo'][k], t['ym'], t['qp'][k])
            loos.append(loo)
            qps.append(qp)
        rho, w10 = score(tasks, lambda t, i: M.choose_blend(t['ym'], loos[i])['weights'], qps)
        print(f"{mode:6s} {bench:9s} rho {rho:.4f} w10 {w10:6.2f}", flush=True)


if __name__ == '__main__':
    run(main)
