"""Headroom of `flat` (tenth session of issue 20): its query error (relative, clipped at 30 %) with the variances its
20 samples choose (`flat`), with those that 400 archs of the target choose by the same evidence (`oraclevar`: what
a perfect choice of variances would give), and with the geometric mean of the variances six source devices choose
on 400 archs each (`srcvar`: variances meta-learned from the sources). Seed 0 x 5 folds, 20 samples:

    python experiments/latency_predictors/tried/flat_headroom.py ct-fb|ct-nb|ctr-ofa     (3-4 min on one core)
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from benches import check_benches, tasks  # noqa: E402  (the benchmarks' datasets, targets and sources)
from nasedge.errors import NasedgeError  # noqa: E402
from variants import _finish, _setup  # noqa: E402  (flat_adapt's set-up and its head and leave-one-out)
from nasedge.predict.benchmark import _meta_model, untrimmed_tasks  # noqa: E402


def clip(p, y):
    return float(np.mean(np.minimum(np.abs(p - y) / y, 0.3)))


def fixed_flat(groups, phi, y, v, variances):
    """flat with the given variance per group; only the noise by evidence."""
    scale, r, names, grams, fixed = _setup(groups, phi, y)
    t = np.array([variances[k] for k in names])
    s2 = max(M.NOISE, key=lambda s: M._evidence(fixed + np.tensordot(t, grams, 1), r, s * v)[0])
    return _finish(groups, names, phi, y, r, scale, fixed, grams, t, s2, v)[0]


def chosen_variances(ds, groups, model, rows, y):
    """The variances flat's evidence chooses on ``rows`` of a device (latencies ``y``)."""
    phi = model.basis(ds.encoding, [ds.items[i] for i in rows])
    return M.flat_adapt(groups, phi, y[rows], (y[rows] / y[rows].mean()) ** 2)[2]['variances']


def main():
    (bench,) = plain_args(__doc__, "BENCH (ct-* or ctr-*)", 1, 1)
    if not bench.startswith(("ct-", "ctr-")):
        raise NasedgeError(f"benchmark {bench!r}: flat's headroom is measured on the cross-type ones (ct-*, ctr-*)")
    ds, todo = tasks(check_benches([bench])[0])
    tgs, src = [t for t, _ in todo], todo[0][1]['sources']
    total = {'flat': [], 'oraclevar': [], 'srcvar': []}
    for tg in tgs:
        y, models = ds.column(tg), {}
        big = np.random.default_rng(1).permutation(np.flatnonzero(np.isfinite(y)))[:400]
        res = {k: [] for k in total}
        for t in untrimmed_tasks(ds, tg, 20, 1, 5, src):
            model = _meta_model(ds, t, models)
            groups = M.variance_groups(model.onehot_width, model.feature_names)
            if t.fold == 0:
                own = chosen_variances(ds, groups, model, big, y)
                per_source = [chosen_variances(ds, groups, model, big[np.isfinite(ds.column(s)[big])], ds.column(s))
                              for s in src[:6]]
                sources = {k: float(np.exp(np.mean([np.log(max(d[k], 1e-5)) for d in per_source]))) for k in groups}
            phi = model.basis(ds.encoding, [ds.items[i] for i in t.measured])
            pq = model.basis(ds.encoding, [ds.items[i] for i in t.query])
            ym, yq = y[t.measured], y[t.query]
            v = (ym / ym.mean()) ** 2
            res['flat'].append(clip(pq @ M.flat_adapt(groups, phi, ym, v)[0], yq))
            res['oraclevar'].append(clip(pq @ fixed_flat(groups, phi, ym, v, own), yq))
            res['srcvar'].append(clip(pq @ fixed_flat(groups, phi, ym, v, sources), yq))
        print(f"{tg:22s}", ' '.join(f"{k} {100 * np.mean(res[k]):5.2f}" for k in total), own, flush=True)
        for k in total:
            total[k] += res[k]
    print('MEAN', ' '.join(f"{k} {100 * np.mean(total[k]):5.2f}" for k in total))


if __name__ == '__main__':
    run(main)
