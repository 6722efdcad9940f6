"""Re-blend the tasks cached by blend_cache.py with a variant of `flat` (tenth session of issue 20), or show the
blend's headroom. Run in the folder holding cache_<bench>.pkl:

    python experiments/latency_predictors/tried/blend_variants.py base ct-fb lodo ...   (as the inner loop: rho, w10)
    python experiments/latency_predictors/tried/blend_variants.py start:1e-4|fine|joint|plusjoint ct-fb ...
    python experiments/latency_predictors/tried/blend_variants.py headroom ct-fb lodo ...

Variants: `start:T` flat's coordinate ascent starts from variance T (not 1e-2); `fine` half-decade variance grid;
`joint` each variance searched together with the noise (replacing flat); `plusjoint` that as a sixth candidate;
`robust[:K]` flat's fit reweighted as Student-t noise (outliers down-weighted; K rounds, default 10) once its
variances are chosen; `plusrobust` that as a sixth candidate.
`headroom`: per candidate its mean relative leave-one-out error on the samples against its error on the query archs
(clipped at 30 %), and the blend's query error against the best single candidate per task (in hindsight) and the
one of least leave-one-out error.
"""
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import nasedge.predict.meta as M  # noqa: E402  (after the sys.path entry)
from nasedge.predict.metrics import quality  # noqa: E402
from variants import _finish, _setup  # noqa: E402  (flat_adapt's set-up and its head and leave-one-out)

CANDIDATES = ('prior', 'flat', 'regressor', 'flops', 'totals')


def clipped(p, y):
    return float(np.mean(np.minimum(np.abs(p - y) / y, M.LOO_CLIP)))


def flat_search(groups, phi, y, v, grid=M.FLAT_VARIANCES, start=1e-2, joint=False, robust=0):
    """flat_adapt's search, with its grid, starting variance, or each variance searched jointly with the noise; with
    ``robust`` > 0 that many rounds of Student-t reweighting (nu = 1, as the prior's adaptation) after the search."""
    scale, r, names, grams, fixed = _setup(groups, phi, y)

    def ev(ts, s2):
        return M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v)[0]
    ts, s2 = [start] * len(names), 1e-2
    for _ in range(M.FLAT_SWEEPS):
        for i in range(len(names)):
            if joint:
                ts[i], s2 = max(((t, s) for t in grid for s in M.NOISE), key=lambda c: ev([*ts[:i], c[0], *ts[i + 1:]], c[1]))
            else:
                ts[i] = max(grid, key=lambda t: ev([*ts[:i], t, *ts[i + 1:]], s2))
        if not joint:
            s2 = max(M.NOISE, key=lambda s: ev(ts, s))
    w = np.ones(len(y))
    for _ in range(robust):
        _, chol, alpha = M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v / w)
        resid = (s2 * v / w) * alpha  # sample minus the posterior mean's fit
        w = (M.STUDENT_NU + 1.0) / (M.STUDENT_NU + resid**2 / (s2 * v))
    head, loo_ms, _, _ = _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v / w)
    return head, loo_ms


FINE = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
VARIANTS = {
    'base': lambda g, phi, y, v, a: {},
    'start': lambda g, phi, y, v, a: {'flat': flat_search(g, phi, y, v, start=float(a))},
    'fine': lambda g, phi, y, v, a: {'flat': flat_search(g, phi, y, v, grid=FINE)},
    'joint': lambda g, phi, y, v, a: {'flat': flat_search(g, phi, y, v, joint=True)},
    'plusjoint': lambda g, phi, y, v, a: {'joint': flat_search(g, phi, y, v, joint=True)},
    'robust': lambda g, phi, y, v, a: {'flat': flat_search(g, phi, y, v, robust=int(a or M.ROBUST_ITERS))},
    'plusrobust': lambda g, phi, y, v, a: {'robust': flat_search(g, phi, y, v, robust=M.ROBUST_ITERS)},
}


def reblend(variant, tasks):
    name, _, arg = variant.partition(':')
    per = {}
    for t in tasks:
        ym = t['ym']
        extra = VARIANTS[name](t['groups'], t['phi'], ym, (ym / ym.mean()) ** 2, arg)
        loo = {**t['loo'], **{k: loo_k for k, (_, loo_k) in extra.items()}}
        qp = {**t['qp'], **{k: t['phq'].astype(np.float64) @ h for k, (h, _) in extra.items()}}
        weights = M.choose_blend(ym, loo)['weights']
        pred = np.maximum(sum(w * qp[k] for k, w in weights.items()), 0.25 * ym.min())
        p, y = per.setdefault((t['target'], t['seed']), ([], []))
        p.append(pred)
        y.append(t['yq'])
    by_target = {}
    for (tg, _), (p, y) in per.items():
        by_target.setdefault(tg, []).append(quality(np.concatenate(p), np.concatenate(y)))
    return (np.mean([np.mean([q['spearman'] for q in qs]) for qs in by_target.values()]),
            100 * np.mean([np.mean([q['within_10pct'] for q in qs]) for qs in by_target.values()]))


def headroom(tasks):
    loo = {k: np.mean([clipped(t['loo'][k], t['ym']) for t in tasks]) for k in CANDIDATES}
    query = {k: np.mean([clipped(t['qp'][k], t['yq']) for t in tasks]) for k in CANDIDATES}
    blend, best, pick = [], [], []
    for t in tasks:
        w = M.choose_blend(t['ym'], t['loo'])['weights']
        blend.append(clipped(np.maximum(sum(x * t['qp'][k] for k, x in w.items()), 0.25 * t['ym'].min()), t['yq']))
        errs = {k: clipped(t['qp'][k], t['yq']) for k in CANDIDATES}
        best.append(min(errs.values()))
        pick.append(errs[min(CANDIDATES, key=lambda k: clipped(t['loo'][k], t['ym']))])
    cells = ' '.join(f"{k} {100 * loo[k]:.1f}/{100 * query[k]:.1f}" for k in CANDIDATES)
    return (f"leave-one-out/query % {cells} | blend {100 * np.mean(blend):.2f} best-in-hindsight "
            f"{100 * np.mean(best):.2f} least-loo {100 * np.mean(pick):.2f}")


variant = sys.argv[1]
if variant != 'headroom' and variant.partition(':')[0] not in VARIANTS:
    raise SystemExit(f"unknown variant {variant}; known: headroom, {', '.join(VARIANTS)}")
for bench in sys.argv[2:]:
    tasks = pickle.load(open(f'cache_{bench}.pkl', 'rb'))
    if variant == 'headroom':
        print(f"{bench:9s} {headroom(tasks)}", flush=True)
    else:
        rho, w10 = reblend(variant, tasks)
        print(f"{variant:12s} {bench:9s} rho {rho:.4f} w10 {w10:6.2f}", flush=True)
