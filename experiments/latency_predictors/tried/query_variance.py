"""Does `flat` err more, against the prior-based head, on the query archs where it is least sure? (seventeenth session
of issue 20). If so, a weight per query arch (more prior where `flat` extrapolates) could beat the blend's one weight
per task. Run in the folder holding cache_<bench>.pkl (tried/blend_cache.py):

    python experiments/latency_predictors/tried/query_variance.py ct-fb lodo ctr-ofa      (~2 min on one core)

Per task, `flat` is refitted as meta.flat_adapt does (and checked against the cached predictions), its predictive
standard deviation computed at every query arch, the query archs split into thirds by it, and each third's mean
clipped relative error printed for `flat` and for the prior-based head, means over the tasks.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from blend_variants import read_cache  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
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


def main():
    for bench in plain_args(__doc__, "BENCH..."):
        rows = []
        for n, t in enumerate(read_cache(bench), start=1):
            pred, spread, s2 = flat_with_spread(t['groups'], t['phi'], t['phq'], t['ym'])
            if not np.allclose(pred, t['qp']['flat'], rtol=1e-3):
                raise NasedgeError(f"cache_{bench}.pkl, task {n}: flat refitted here (Gaussian noise, as "
                                   f"meta.flat_adapt fitted it then) differs from the cached flat of today's meta "
                                   f"(Student-t reweighted since); this dropped experiment does not run with "
                                   f"today's code")
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


if __name__ == '__main__':
    run(main)
