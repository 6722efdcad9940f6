"""How far the cost features alone go on a benchmark's targets, and two prior-free fits of them tried as candidates
(twelfth session of issue 20). Run in the folder holding cache_<bench>.pkl (from blend_cache.py):

    python experiments/latency_predictors/tried/cost_features.py curve ct-fb    (~1 min)
    python experiments/latency_predictors/tried/cost_features.py fits ct-fb     (~3 min)

`curve`: ridge on `flat`'s cost columns (every variance group but the choices; standardised, the ridge strength by
leave-one-out) fitted on N archs of the target and judged on 500 others of its query archs (N = 20, 40, 500), and
the same on the groups' sums; Spearman per target (mean over the cached tasks). `fits`: per-column automatic
relevance (scikit-learn's ARDRegression, BayesianRidge) and non-negative least squares with ridge (every cost costs
time) on the 20 samples, against the cached `flat` and `totals`.
"""
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

from blend_variants import read_cache  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402

RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
NNLS_RIDGES = (1e-4, 1e-3, 1e-2, 1e-1)


def cost_columns(t):
    return np.concatenate([c for k, c in t['groups'].items() if k != 'choices'])


def standardised(t, x, xq):
    sd = t['phq'][:, cost_columns(t)].std(0)
    keep = sd > 0
    return x[:, keep] / sd[keep], xq[:, keep] / sd[keep]


def ridge_loo(a, y, aq):
    """Ridge with a free constant, its strength by closed-form leave-one-out error."""
    mu, ym = a.mean(0), y.mean()
    a, aq = a - mu, aq - mu
    best = None
    for lam in RIDGES:
        hat = a @ np.linalg.solve(a.T @ a + lam * len(y) * np.eye(a.shape[1]), a.T)
        resid = (y - ym) - hat @ (y - ym)
        err = np.mean((resid / (1 - np.diag(hat) - 1 / len(y))) ** 2)
        if best is None or err < best[0]:
            best = (err, lam)
    w = np.linalg.solve(a.T @ a + best[1] * len(y) * np.eye(a.shape[1]), a.T @ (y - ym))
    return aq @ w + ym


def nonnegative(a, y, lam):
    mu, ym = a.mean(0), y.mean()
    w, _ = nnls(np.r_[a - mu, np.sqrt(lam * len(y)) * np.eye(a.shape[1])], np.r_[y - ym, np.zeros(a.shape[1])])
    return w, ym - mu @ w


def nonnegative_loo(a, y, aq):
    def err(lam):
        e = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            w, b = nonnegative(a[keep], y[keep], lam)
            e.append(min(abs(a[i] @ w + b - y[i]) / y[i], 0.3))
        return np.mean(e)
    w, b = nonnegative(a, y, min(NNLS_RIDGES, key=err))
    return aq @ w + b


def curve(tasks):
    rng = np.random.default_rng(0)
    res = defaultdict(lambda: defaultdict(list))
    for t in tasks:
        yq, x = t['yq'], t['phq']
        cost = standardised(t, x[:, cost_columns(t)], x[:, cost_columns(t)])[0]
        sums = np.stack([x[:, c].sum(1) for k, c in t['groups'].items() if k != 'choices'], 1)
        perm = rng.permutation(len(yq))
        test = perm[:500]
        for n in (20, 40, 500):
            train = perm[500:500 + n]
            for name, f in (('cost', cost), ('sums', sums)):
                p = ridge_loo(f[train], yq[train], f[test])
                res[t['target']][f'{name} {n}'].append(spearmanr(p, yq[test])[0])
    return res


def fits(tasks):
    from sklearn.linear_model import ARDRegression, BayesianRidge
    warnings.filterwarnings('ignore')
    res = defaultdict(lambda: defaultdict(list))
    for t in tasks:
        y = t['ym'] / t['ym'].mean()
        a, aq = standardised(t, t['phi'][:, cost_columns(t)], t['phq'][:, cost_columns(t)])
        for name, model in (('ard', ARDRegression(max_iter=500)), ('bayesian ridge', BayesianRidge())):
            res[t['target']][name].append(spearmanr(model.fit(a, y).predict(aq), t['yq'])[0])
        res[t['target']]['nnls'].append(spearmanr(nonnegative_loo(a, y, aq), t['yq'])[0])
        for k in ('flat', 'totals'):
            res[t['target']][k].append(spearmanr(t['qp'][k], t['yq'])[0])
    return res


def main():
    mode, bench = plain_args(__doc__, "curve|fits BENCH", 2, 2)
    if mode not in ('curve', 'fits'):
        raise NasedgeError(f"mode {mode!r}: expected curve or fits")
    res = {'curve': curve, 'fits': fits}[mode](read_cache(bench))
    keys = list(next(iter(res.values())))
    print(' ' * 16, ' '.join(k.rjust(14) for k in keys))
    for target, d in res.items():
        print(f'{target:16s}', ' '.join(f'{np.mean(d[k]):14.3f}' for k in keys))
    print(f"{'mean':16s}", ' '.join(f'{np.mean([np.mean(d[k]) for d in res.values()]):14.3f}' for k in keys))


if __name__ == '__main__':
    run(main)
