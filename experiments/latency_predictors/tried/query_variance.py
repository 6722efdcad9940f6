"""Does `flat` err more, against the prior-based head, on the query archs where it is least sure? (seventeenth session
of issue 20). If so, a weight per query arch (more prior where `flat` extrapolates) could beat the blend's one weight
per task. Run in the folder holding cache_<bench>.pkl (tried/blend_cache.py):

    python experiments/latency_predictors/tried/query_variance.py ct-fb lodo ctr-ofa      (~2 min on one core)

Per task, `flat` is refitted as meta.flat_adapt does (and checked against the cached predictions), its predictive
standard deviation computed at every query arch, the query archs split into thirds by it, and each third's mean
clipped relative error printed for `flat` and for the prior-based head, means over the tasks.
"""
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import nasedge.predict.meta as M  # noqa: E402  (after the sys.path entry)
from variants import _ascent, _setup  # noqa: E402  (flat_adapt's set-up and ascent)


def flat_with_spread(groups, phi, phq, y):
    """`flat`'s predictions at ``phq`` (ms) and their predictive standard deviation relative to the prediction, and
    the chosen noise variance."""
    v = (y / y.mean()) ** 2
    scale, r, names, grams, fixed = _setup(groups, phi, y)
    ts, s2 = _ascent(grams, fixed, r, v, 1e-2, noises=M.NOISE)
    k = fixed + np.tensordot(ts, grams, 1) + np.diag(s2 * v)
    var = np.zeros(phi.shape[1])
    var[-1] = M.BIAS_VARIANCE
    for t, name in zip(ts, names):
        var[groups[name]] = t
    phq = phq.astype(np.float64)
    kqx = (phq * var) @ phi.T
    mean = kqx @ np.linalg.solve(k, r)
    spread = np.einsum('ij,ij->i', phq * var, phq) - np.einsum('ij,ji->i', kqx, np.linalg.solve(k, kqx.T))
    return mean / scale, np.sqrt(np.maximum(spread, 0)) / np.maximum(mean, 1e-9), s2


for bench in sys.argv[1:]:
    rows = []
    for t in pickle.load(open(f'cache_{bench}.pkl', 'rb')):
        pred, spread, s2 = flat_with_spread(t['groups'], t['phi'], t['phq'], t['ym'])
        assert np.allclose(pred, t['qp']['flat'], rtol=1e-3)
        yq = t['yq']
        err = {k: np.minimum(np.abs(t['qp'][k] - yq) / yq, M.LOO_CLIP) for k in ('flat', 'prior')}
        third = np.digitize(spread, np.quantile(spread, [1 / 3, 2 / 3]))
        rows.append([(err['flat'][third == i].mean(), err['prior'][third == i].mean(),
                      spread[third == i].mean() / np.sqrt(s2)) for i in range(3)])
    a = np.array(rows)
    print(f'{bench}: thirds of the query archs by flat\'s predictive spread (least sure last)')
    print('  third   flat error   prior error   flat / prior   spread / noise (median over tasks)')
    for i in range(3):
        f, p = a[:, i, 0].mean(), a[:, i, 1].mean()
        print(f'  {i + 1}       {f:.4f}       {p:.4f}        {f / p:.2f}           {np.median(a[:, i, 2]):.2f}')
