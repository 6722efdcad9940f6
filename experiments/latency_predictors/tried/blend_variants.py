"""Re-blend the tasks cached by blend_cache.py with a variant of `flat` (tenth session of issue 20), or show the
blend's headroom. Run in the folder holding cache_<bench>.pkl:

    python experiments/latency_predictors/tried/blend_variants.py base ct-fb lodo ...   (as the inner loop: rho, w10)
    python experiments/latency_predictors/tried/blend_variants.py start:1e-4|fine|joint|plusjoint ct-fb ...
    python experiments/latency_predictors/tried/blend_variants.py headroom ct-fb lodo ...
    python experiments/latency_predictors/tried/blend_variants.py hindsight ct-fb lodo ...

Variants: `start:T` flat's coordinate ascent starts from variance T (not 1e-2); `fine` half-decade variance grid;
`joint` each variance searched together with the noise (replacing flat); `plusjoint` that as a sixth candidate;
`robust[:K]` flat's fit reweighted as Student-t noise (outliers down-weighted; K rounds, default 10) once its
variances are chosen; `plusrobust` that as a sixth candidate.
Eleventh session (cache_<bench>.pkl with the sources' heads, from this blend_cache.py, for `pard*`): `nested` flat's
leave-one-out predictions with its variances and noise chosen without the sample left out; `floor:S` flat's noise
at least S; `drop:KIND` flat without the variance group KIND (e.g. `drop:choices`), `plusdrop:KIND` that as a sixth
candidate; `cv` flat's variances and noise by leave-one-out log predictive density instead of evidence, `pluscv`
that as a sixth candidate; `bag[:B]` flat's variances and noise chosen on B bootstrap resamples, heads averaged;
`pard[:K]` the sources' prior (all, or the K most like the samples) with one free variance per kind of cost as a
sixth candidate, `pardflat` / `pardprior` that in place of flat / of the prior-based head; `kmu` the sources' mean
head split by kind of cost, a column per kind with its own variance, as a sixth candidate; `kmuflat` those columns
added to flat's groups, `pluskmuflat` that as a sixth candidate.
Eighteenth session: `gibbs[:S]` flat's variances and noise averaged over their posterior (S Gibbs sweeps over the
grids, default 40, the first 5 burn-in) in place of flat; `plusgibbs[:S]` that as a sixth candidate.
Sixteenth session: `plusnear` the single source head most like the samples, rescaled, as a sixth candidate.
Fifteenth session: `tot[:k]` flat with each kind's columns also summed over the stages, the sums a variance group of
their own (`:k` one per kind), in place of flat; `plustot[:k]` that as a sixth candidate.
`headroom`: per candidate its mean relative leave-one-out error on the samples against its error on the query archs
(clipped at 30 %), and the blend's query error against the best single candidate per task (in hindsight) and the
one of least leave-one-out error.
`hindsight` (twelfth session): the blend's Spearman / within ±10 % against the single candidate and the 0.25-grid blend
chosen per task knowing its query latencies (by least clipped error or greatest Spearman): the most any rule weighing
these five candidates could reach.
"""
import pickle
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.metrics import quality  # noqa: E402
from variants import _ascent, _finish, _setup  # noqa: E402  (flat_adapt's ascent, set-up, head and leave-one-out)

CANDIDATES = ('prior', 'flat', 'regressor', 'flops', 'totals')


def clipped(p, y):
    return float(np.mean(np.minimum(np.abs(p - y) / y, M.LOO_CLIP)))


def loo_lpd(g, r, noise):
    """Leave-one-out log predictive density of ``r`` under covariance ``g + diag(noise)`` (closed form; the
    cross-validation counterpart of the evidence, which holds up better when the model family is wrong)."""
    try:
        chol = np.linalg.cholesky(g + np.diag(noise))
    except np.linalg.LinAlgError:
        return -np.inf
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(len(r))))
    d = np.diag(k_inv)
    resid = k_inv @ r / d
    return float(np.sum(0.5 * np.log(d) - 0.5 * resid**2 * d))


def flat_search(groups, phi, y, v, grid=M.FLAT_VARIANCES, start=1e-2, joint=False, robust=0, noises=M.NOISE,
                objective='evidence'):
    """flat_adapt's search, with its grid, starting variance, or each variance searched jointly with the noise; with
    ``robust`` > 0 that many rounds of Student-t reweighting (nu = 1, as the prior's adaptation) after the search."""
    scale, r, names, grams, fixed = _setup(groups, phi, y)

    def ev(ts, s2):
        if objective == 'loo':
            return loo_lpd(fixed + np.tensordot(ts, grams, 1), r, s2 * v)
        return M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v)[0]
    ts, s2 = [start] * len(names), 1e-2
    for _ in range(M.FLAT_SWEEPS):
        for i in range(len(names)):
            if joint:
                ts[i], s2 = max(((t, s) for t in grid for s in noises), key=lambda c: ev([*ts[:i], c[0], *ts[i + 1:]], c[1]))
            else:
                ts[i] = max(grid, key=lambda t: ev([*ts[:i], t, *ts[i + 1:]], s2))
        if not joint:
            s2 = max(noises, key=lambda s: ev(ts, s))
    w = np.ones(len(y))
    for _ in range(robust):
        _, chol, alpha = M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v / w)
        resid = (s2 * v / w) * alpha  # sample minus the posterior mean's fit
        w = (M.STUDENT_NU + 1.0) / (M.STUDENT_NU + resid**2 / (s2 * v))
    head, loo_ms, _, _ = _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v / w)
    return head, loo_ms


def nested(groups, phi, y, v, robust=0):
    """flat's head as fitted, and leave-one-out predictions whose variances and noise were chosen *without* the sample
    left out (the closed-form leave-one-out keeps the variances chosen on every sample, which flatters a model with a
    variance per kind of cost)."""
    head, _ = flat_search(groups, phi, y, v, robust=robust)
    loo = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        yk = y[keep]
        loo[i] = phi[i] @ flat_search(groups, phi[keep], yk, (yk / yk.mean()) ** 2, robust=robust)[0]
    return head, loo


def prior_ard(heads, groups, phi, y, k=0):
    """The prior of the sources' heads (all of them, or the ``k`` whose predictions correlate best with the samples
    plus a tenth of the all-source covariance) with one free variance per kind of cost in place of the adaptation's
    single isotropic one: covariance ``a * S + diag(t_kind)``, relative Gaussian noise; ``a``, every ``t_kind`` and
    the noise by coordinate ascent of the evidence. ``(head in ms, loo_ms)``."""
    n = len(y)
    mu, cov = heads.mean(0), np.cov(heads.T)
    if k:
        pred = phi @ heads.T
        corr = np.array([np.corrcoef(pred[:, j], y)[0, 1] if np.std(pred[:, j]) > 0 else -1 for j in range(len(heads))])
        near = heads[np.argsort(-np.nan_to_num(corr, nan=-1.0), kind='stable')[:k]]
        mu, cov = near.mean(0), np.cov(near.T) + M.NEIGHBOUR_SHARE * cov
    cov[-1, :] = cov[:, -1] = 0.0
    m = phi @ mu
    scale = float(np.mean(m) / np.mean(y))
    r = y * scale - m
    v = (y / y.mean()) ** 2
    names = list(groups)
    grams = np.stack([phi[:, groups[g]] @ phi[:, groups[g]].T for g in names])
    g_src = phi @ cov @ phi.T
    fixed = M.BIAS_VARIANCE * np.outer(phi[:, -1], phi[:, -1]) + M.rounding_variance(y) * scale**2 * np.eye(n)

    def ev(a, ts, s2):
        return M._evidence(fixed + a * g_src + np.tensordot(ts, grams, 1), r, s2 * v)[0]
    a, ts, s2 = 1.0, [1e-3] * len(names), 1e-2
    for _ in range(M.FLAT_SWEEPS):
        a = max((0.0, *M.PRIOR_SCALES), key=lambda x: ev(x, ts, s2))
        for i in range(len(names)):
            ts[i] = max(M.FLAT_VARIANCES, key=lambda t: ev(a, [*ts[:i], t, *ts[i + 1:]], s2))
        s2 = max(M.NOISE, key=lambda s: ev(a, ts, s))
    head, loo_ms, _, _ = _finish(groups, names, phi, y, r, scale, fixed + a * g_src, grams, ts, s2, v, mu, a * cov)
    return head, loo_ms


def kind_scaled(heads, groups, phi, y, v, with_flat=False):
    """The sources' mean head split by kind of cost, each part a column of its own (``z_k = phi_k mu_k``: what the
    sources say kind k costs, stage by stage), each with its own variance by evidence: a device pays each kind at its
    own rate, in the sources' pattern over stages. With ``with_flat``, added to `flat`'s basis as more groups. The
    head is folded back onto the meta basis (a coefficient on ``z_k`` is that multiple of ``mu`` on kind k's columns)."""
    mu = heads.mean(0)
    names = list(groups)
    z = np.stack([phi[:, groups[k]] @ mu[groups[k]] for k in names], 1)
    width = phi.shape[1] - 1
    if with_flat:
        ext = np.concatenate([phi[:, :-1], z, phi[:, -1:]], 1)
        grp = {**groups, **{f"mu:{k}": np.array([width + i]) for i, k in enumerate(names)}}
    else:
        ext = np.concatenate([z, phi[:, -1:]], 1)
        grp = {f"mu:{k}": np.array([i]) for i, k in enumerate(names)}
    head_ext, loo = flat_search(grp, ext, y, v)
    head = np.zeros(phi.shape[1])
    head[-1] = head_ext[-1]
    if with_flat:
        head[:-1] = head_ext[:width]
    off = width if with_flat else 0
    for i, k in enumerate(names):
        head[groups[k]] += head_ext[off + i] * mu[groups[k]]
    return head, loo


def shared_rates(groups, phi, y, v, per_kind=False, plus_only=False):
    """`flat` with each kind's columns also summed into one column (fifteenth session): a rate per kind shared by the
    stages, around which the per-stage rates vary, instead of per-stage rates shrunk towards zero. One more variance
    group for the sums (``per_kind``: one per kind). The head is folded back onto the meta basis."""
    kinds = [k for k in groups if k != 'choices']
    width = phi.shape[1] - 1
    z = np.stack([phi[:, groups[k]].sum(1) for k in kinds], 1)
    ext = np.concatenate([phi[:, :-1], z, phi[:, -1:]], 1)
    if per_kind:
        extra = {f"sum:{k}": np.array([width + i]) for i, k in enumerate(kinds)}
    else:
        extra = {"sums": width + np.arange(len(kinds))}
    head_ext, loo = flat_search({**groups, **extra}, ext, y, v)
    head = np.zeros(phi.shape[1])
    head[:-1] = head_ext[:width]
    head[-1] = head_ext[-1]
    for i, k in enumerate(kinds):
        head[groups[k]] += head_ext[width + i]
    return head, loo


def nearest_head(heads, phi, y):
    """The one source head whose predictions correlate best with the samples, rescaled (a * head + b, least squares
    on relative errors): the `nearest` baseline as a model of the archs (the head, not the source's measurements).
    Its leave-one-out predictions pick the source and the scale again without the sample left out."""
    pred = phi @ heads.T  # samples x sources

    def fit(idx):
        p, yy = pred[idx], y[idx]
        corr = [np.corrcoef(p[:, j], yy)[0, 1] if np.std(p[:, j]) > 0 else -1.0 for j in range(p.shape[1])]
        j = int(np.argmax(np.nan_to_num(corr, nan=-1.0)))
        a = np.stack([p[:, j], np.ones(len(idx))], 1) / yy[:, None]
        coef = np.linalg.lstsq(a, np.ones(len(idx)), rcond=None)[0]
        return j, coef

    j, (a, b) = fit(np.arange(len(y)))
    head = a * heads[j]
    head[-1] += b
    loo = np.empty(len(y))
    for i in range(len(y)):
        k, (ai, bi) = fit(np.delete(np.arange(len(y)), i))
        loo[i] = ai * pred[i, k] + bi
    return head, loo


def bagged(groups, phi, y, v, b=20):
    """flat with its variances and noise chosen on ``b`` bootstrap resamples of the samples, each choice fitted to
    every sample, heads and leave-one-out predictions averaged (the choice among near-equal settings flips with a
    single sample, as the blend's weights did before they were averaged over resamples)."""
    scale, r, names, grams, fixed = _setup(groups, phi, y)
    rng = np.random.default_rng(0)
    heads, loos = [], []
    for _ in range(b):
        idx = rng.integers(0, len(y), len(y))
        ts, s2 = _ascent(grams[:, idx][:, :, idx], fixed[np.ix_(idx, idx)], r[idx], v[idx], 1e-2, M.NOISE)
        head, loo_ms, _, _ = _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v)
        heads.append(head)
        loos.append(loo_ms)
    return np.mean(heads, 0), np.mean(loos, 0)


def gibbs(groups, phi, y, v, sweeps=40, burn=5, seed=0):
    """flat with its variances and noise averaged over their posterior instead of maximised (eighteenth session):
    a Gibbs sampler over the same grids (a uniform prior over each grid, so each conditional is proportional to the
    evidence), heads and leave-one-out predictions averaged over the sweeps after ``burn``. Type-II maximum
    likelihood over nine variances from 20 samples picks one corner of a flat evidence; the average does not."""
    scale, r, names, grams, fixed = _setup(groups, phi, y)
    rng = np.random.default_rng(seed)

    def draw(logev):
        w = np.exp(np.array(logev) - max(logev))
        return rng.choice(len(w), p=w / w.sum())
    ts, s2 = [1e-2] * len(names), 1e-2
    heads, loos = [], []
    for sweep in range(sweeps):
        for i in range(len(names)):
            ev = [M._evidence(fixed + np.tensordot([*ts[:i], t, *ts[i + 1:]], grams, 1), r, s2 * v)[0]
                  for t in M.FLAT_VARIANCES]
            ts[i] = M.FLAT_VARIANCES[draw(ev)]
        ev = [M._evidence(fixed + np.tensordot(ts, grams, 1), r, s * v)[0] for s in M.NOISE]
        s2 = M.NOISE[draw(ev)]
        if sweep >= burn:
            head, loo_ms, _, _ = _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v)
            heads.append(head)
            loos.append(loo_ms)
    return np.mean(heads, 0), np.mean(loos, 0)


FINE = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
VARIANTS = {
    'base': lambda g, phi, y, v, a, t: {},
    'start': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, start=float(a))},
    'fine': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, grid=FINE)},
    'joint': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, joint=True)},
    'plusjoint': lambda g, phi, y, v, a, t: {'joint': flat_search(g, phi, y, v, joint=True)},
    'robust': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, robust=int(a or M.ROBUST_ITERS))},
    'floor': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, noises=[s for s in M.NOISE if s >= float(a)])},
    'pard': lambda g, phi, y, v, a, t: {'pard': prior_ard(t['heads'], g, phi, y, int(a or 0))},
    'pardflat': lambda g, phi, y, v, a, t: {'flat': prior_ard(t['heads'], g, phi, y, int(a or 0))},
    'pardprior': lambda g, phi, y, v, a, t: {'prior': prior_ard(t['heads'], g, phi, y, int(a or 0))},
    'drop': lambda g, phi, y, v, a, t: {'flat': flat_search({k: c for k, c in g.items() if k != a}, phi, y, v)},
    'plusdrop': lambda g, phi, y, v, a, t: {'drop': flat_search({k: c for k, c in g.items() if k != a}, phi, y, v)},
    'cv': lambda g, phi, y, v, a, t: {'flat': flat_search(g, phi, y, v, objective='loo')},
    'pluscv': lambda g, phi, y, v, a, t: {'cv': flat_search(g, phi, y, v, objective='loo')},
    'bag': lambda g, phi, y, v, a, t: {'flat': bagged(g, phi, y, v, int(a or 20))},
    'kmu': lambda g, phi, y, v, a, t: {'kmu': kind_scaled(t['heads'], g, phi, y, v)},
    'kmuflat': lambda g, phi, y, v, a, t: {'flat': kind_scaled(t['heads'], g, phi, y, v, with_flat=True)},
    'pluskmuflat': lambda g, phi, y, v, a, t: {'kmuflat': kind_scaled(t['heads'], g, phi, y, v, with_flat=True)},
    'tot': lambda g, phi, y, v, a, t: {'flat': shared_rates(g, phi, y, v, per_kind=a == 'k')},
    'plustot': lambda g, phi, y, v, a, t: {'tot': shared_rates(g, phi, y, v, per_kind=a == 'k')},
    'nested': lambda g, phi, y, v, a, t: {'flat': nested(g, phi, y, v)},
    'plusnear': lambda g, phi, y, v, a, t: {'near': nearest_head(t['heads'], phi, y)},
    'gibbs': lambda g, phi, y, v, a, t: {'flat': gibbs(g, phi, y, v, int(a or 40))},
    'plusgibbs': lambda g, phi, y, v, a, t: {'gibbs': gibbs(g, phi, y, v, int(a or 40))},
    'plusrobust': lambda g, phi, y, v, a, t: {'robust': flat_search(g, phi, y, v, robust=M.ROBUST_ITERS)},
}


def read_cache(bench):
    """The tasks blend_cache.py cached for ``bench``: ``cache_<bench>.pkl`` in the working folder, else a one-line
    error naming the file (none there, or one cut short or of something else)."""
    path = Path(f'cache_{bench}.pkl').resolve()
    if not path.is_file():
        raise NasedgeError(f"{path}: no such file; run blend_cache.py {bench} in this folder first")
    try:
        with open(path, 'rb') as f:
            tasks = pickle.load(f)
    except Exception as exc:  # a pickle cut short or of anything else fails in any of many ways
        raise NasedgeError(f"{path}: not a task cache of blend_cache.py ({type(exc).__name__}: {exc}); "
                           f"run blend_cache.py {bench} again") from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and {'ym', 'loo', 'qp'} <= set(t) for t in tasks):
        raise NasedgeError(f"{path}: not a task cache of blend_cache.py (expected a list of tasks)")
    return tasks


def score(tasks, weights, qps=None):
    """Spearman and within ±10 % (means over the targets, folds concatenated, as the inner loop) of the blend with
    ``weights(task, i)`` of each task's query predictions (``qps[i]``, default the cached ones)."""
    per = {}
    for i, t in enumerate(tasks):
        qp = t['qp'] if qps is None else qps[i]
        pred = np.maximum(sum(w * qp[k] for k, w in weights(t, i).items()), 0.25 * t['ym'].min())
        p, y = per.setdefault((t['target'], t['seed']), ([], []))
        p.append(pred)
        y.append(t['yq'])
    by_target = {}
    for (tg, _), (p, y) in per.items():
        by_target.setdefault(tg, []).append(quality(np.concatenate(p), np.concatenate(y)))
    return (np.mean([np.mean([q['spearman'] for q in qs]) for qs in by_target.values()]),
            100 * np.mean([np.mean([q['within_10pct'] for q in qs]) for qs in by_target.values()]))


def reblend(variant, tasks):
    name, _, arg = variant.partition(':')
    loos, qps = [], []
    for t in tasks:
        ym = t['ym']
        extra = VARIANTS[name](t['groups'], t['phi'], ym, (ym / ym.mean()) ** 2, arg, t)
        loos.append({**t['loo'], **{k: loo_k for k, (_, loo_k) in extra.items()}})
        qps.append({**t['qp'], **{k: t['phq'].astype(np.float64) @ h for k, (h, _) in extra.items()}})
    return score(tasks, lambda t, i: M.choose_blend(t['ym'], loos[i])['weights'], qps)


def hindsight(tasks):
    """The blend against choices made knowing each task's query latencies: the single candidate, and the convex
    blend on the blend's own 0.25 grid, of the least clipped query error or the greatest query Spearman. No rule
    that weighs these candidates can do better than the blend chosen in hindsight."""
    grid = [dict(zip(CANDIDATES, np.array(s) * M.BLEND_STEP)) for s in M._simplex(len(CANDIDATES), 4)]

    def pred(t, w):
        return np.maximum(sum(x * t['qp'][k] for k, x in w.items()), 0.25 * t['ym'].min())

    def rho(t, w):
        return spearmanr(pred(t, w), t['yq'])[0]

    singles = [{k: 1.0} for k in CANDIDATES]
    rules = {
        'base': lambda t, i: M.choose_blend(t['ym'], t['loo'])['weights'],
        'single-err': lambda t, i: min(singles, key=lambda w: clipped(pred(t, w), t['yq'])),
        'single-rho': lambda t, i: max(singles, key=lambda w: rho(t, w)),
        'blend-err': lambda t, i: min(grid, key=lambda w: clipped(pred(t, w), t['yq'])),
        'blend-rho': lambda t, i: max(grid, key=lambda w: rho(t, w)),
    }
    return ' | '.join(f"{name} {r:.4f} / {w:.1f}" for name, (r, w) in ((n, score(tasks, f)) for n, f in rules.items()))


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


def main():
    variant, *benches = plain_args(__doc__, "VARIANT BENCH...", 2)
    if variant not in ('headroom', 'hindsight') and variant.partition(':')[0] not in VARIANTS:
        raise NasedgeError(f"unknown variant {variant}; known: headroom, hindsight, {', '.join(VARIANTS)}")
    for bench in benches:
        tasks = read_cache(bench)
        if variant == 'headroom':
            print(f"{bench:9s} {headroom(tasks)}", flush=True)
        elif variant == 'hindsight':
            print(f"{bench:9s} {hindsight(tasks)}", flush=True)
        else:
            rho, w10 = reblend(variant, tasks)
            print(f"{variant:12s} {bench:9s} rho {rho:.4f} w10 {w10:6.2f}", flush=True)


if __name__ == '__main__':
    run(main)
