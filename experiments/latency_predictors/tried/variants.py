"""Variants of `meta`'s adaptation tried in issue 20's fourth session and dropped (README: "Tried in the fourth
session and dropped"): each patches functions of nasedge.predict.meta for one inner_loop.py process."""
import numpy as np
import nasedge.predict.meta as M


def _ascent(grams, base, r, v, s2, noises=None):
    """The group variances by coordinate ascent of the Gaussian evidence (flat_adapt's order, from 1e-2 each);
    with ``noises``, the noise is chosen again from them after each sweep, else it stays ``s2``."""
    ts = [1e-2] * len(grams)
    for _ in range(M.FLAT_SWEEPS):
        for i in range(len(grams)):
            ts[i] = max(M.FLAT_VARIANCES, key=lambda t: M._evidence(
                base + np.tensordot([*ts[:i], t, *ts[i + 1:]], grams, 1), r, s2 * v)[0])
        if noises:
            s2 = max(noises, key=lambda s: M._evidence(base + np.tensordot(ts, grams, 1), r, s * v)[0])
    return ts, s2


def _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v, mean=None, cov=None):
    """Head (ms), leave-one-out predictions (ms), evidence and clipped leave-one-out error of the chosen variances;
    with ``mean`` and ``cov`` a prior ``N(mean, cov + diag(variances))`` (``fixed`` then holds ``phi cov phi^T``)."""
    ev, chol, alpha = M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v)
    n = len(y)
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(n)))
    loo_ms = y - (k_inv @ r / np.diag(k_inv)) / scale
    var = np.zeros(phi.shape[1])
    var[-1] = M.BIAS_VARIANCE
    for t, k in zip(ts, names):
        var[groups[k]] = t
    head = var * (phi.T @ alpha) / scale
    if mean is not None:
        head += (mean + cov @ phi.T @ alpha) / scale
    err = float(np.mean(np.minimum(np.abs(loo_ms - y) / y, M.LOO_CLIP)))
    return head, loo_ms, ev, err


def _setup(groups, phi, y):
    n = len(y)
    scale = 1.0 / float(np.mean(y))
    r = y * scale
    names = list(groups)
    grams = np.stack([phi[:, groups[k]] @ phi[:, groups[k]].T for k in names])
    fixed = M.BIAS_VARIANCE * np.outer(phi[:, -1], phi[:, -1]) + M.rounding_variance(y) * scale**2 * np.eye(n)
    return scale, r, names, grams, fixed


def flat_noise_loo(noises):
    def flat_adapt(groups, phi, y, v):
        scale, r, names, grams, fixed = _setup(groups, phi, y)
        best = None
        for s2 in noises:
            ts, _ = _ascent(grams, fixed, r, v, s2)
            head, loo_ms, ev, err = _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v)
            if best is None or err < best[0]:
                best = (err, head, loo_ms, {"variances": dict(zip(names, ts)), "noise": s2})
        return best[1], best[2], best[3]
    return flat_adapt


def flat_noise_bma(noises):
    def flat_adapt(groups, phi, y, v):
        scale, r, names, grams, fixed = _setup(groups, phi, y)
        res = []
        for s2 in noises:
            ts, _ = _ascent(grams, fixed, r, v, s2)
            res.append((*_finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v), ts, s2))
        ev = np.array([x[2] for x in res])
        w = np.exp(ev - ev.max())
        w /= w.sum()
        head = sum(wi * x[0] for wi, x in zip(w, res))
        loo = sum(wi * x[1] for wi, x in zip(w, res))
        return head, loo, {"noise_weights": w.tolist()}
    return flat_adapt


def hier_flat_adapt(groups, sums, phi, y, v):
    """groups: name -> cols (diagonal); sums: name -> (cols, weights) rank-one shared coefficient."""
    n = len(y)
    scale = 1.0 / float(np.mean(y))
    r = y * scale
    names = list(groups) + list(sums)
    grams = [phi[:, groups[k]] @ phi[:, groups[k]].T for k in groups]
    for k, (cols, wts) in sums.items():
        u = phi[:, cols] @ wts
        grams.append(np.outer(u, u))
    grams = np.stack(grams)
    fixed = M.BIAS_VARIANCE * np.outer(phi[:, -1], phi[:, -1]) + M.rounding_variance(y) * scale**2 * np.eye(n)
    ts, s2 = _ascent(grams, fixed, r, v, 1e-2, M.NOISE)
    _, chol, alpha = M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v)
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(n)))
    loo_ms = y - (k_inv @ r / np.diag(k_inv)) / scale
    pa = phi.T @ alpha
    head = np.zeros(phi.shape[1])
    head[-1] = M.BIAS_VARIANCE * pa[-1]
    for t, k in zip(ts, names):
        if k in groups:
            head[groups[k]] += t * pa[groups[k]]
        else:
            cols, wts = sums[k]
            head[cols] += t * wts * (wts @ pa[cols])
    return head / scale, loo_ms, {"variances": dict(zip(names, ts)), "noise": s2}


def kind_sums(model, kinds=None):
    sums = {}
    for k, cols in M.variance_groups(model.onehot_width, model.feature_names).items():
        if k == 'choices' or len(cols) < 2 or (kinds and k not in kinds):
            continue
        s = model.feature_scale[cols - model.onehot_width]
        sums[k + ':sum'] = (cols, s / s.sum())
    return sums


def patch_fit(sums_fn):
    orig_flat, orig_fit = M.flat_adapt, M.MetaPredictor._fit

    def _fit(self, items, latency_ms):
        model = self.model
        sums = sums_fn(model)
        M.flat_adapt = lambda groups, phi, y, v: hier_flat_adapt(groups, sums, phi, y, v)
        try:
            return orig_fit(self, items, latency_ms)
        finally:
            M.flat_adapt = orig_flat
    M.MetaPredictor._fit = _fit


def ard_prior_candidate(model, phi, y, v, groups, use_mean=(0.0, 1.0), scales=(0.0, 0.25, 1.0, 4.0)):
    """Prior N(c*mu, a*S + sum_k t_k I_k); (c, a) on a grid, t_k and s2 by coordinate ascent (Gaussian evidence)."""
    n = len(y)
    mu, cov = model.prior()
    names = list(groups)
    grams_k = np.stack([phi[:, groups[k]] @ phi[:, groups[k]].T for k in names])
    g_src = phi @ cov @ phi.T
    best = None
    for c in use_mean:
        m = c * (phi @ mu)
        scale = float(np.mean(m) / np.mean(y)) if c > 0 else 1.0 / float(np.mean(y))
        r = y * scale - m
        fixed = M.BIAS_VARIANCE * np.outer(phi[:, -1], phi[:, -1]) + M.rounding_variance(y) * scale**2 * np.eye(n)
        for a in scales:
            base = fixed + a * g_src
            ts, s2 = _ascent(grams_k, base, r, v, 1e-2, M.NOISE)
            ev, chol, alpha = M._evidence(base + np.tensordot(ts, grams_k, 1), r, s2 * v)
            if best is None or ev > best[0]:
                best = (ev, c, a, ts, s2, scale, chol, alpha, r)
    ev, c, a, ts, s2, scale, chol, alpha, r = best
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(n)))
    loo_ms = y - (k_inv @ r / np.diag(k_inv)) / scale
    var = np.zeros(phi.shape[1])
    var[-1] = M.BIAS_VARIANCE
    for t, k in zip(ts, names):
        var[groups[k]] = t
    pa = phi.T @ alpha
    head = (c * mu + a * (cov @ pa) + var * pa) / scale
    return head, loo_ms, {"c": c, "a": a, "variances": dict(zip(names, ts)), "noise": s2}


def patch_ardprior(replace_flat=False):
    def _fit(self, items, latency_ms):
        phi = self.model.basis(self.encoding, items)
        self.head, self.hyper = M.adapt(self.model, phi, latency_ms, self.robust_iters, self.nu, self.evidence,
                                        self.noise, self.neighbours)
        loo_prior = self.hyper.pop("loo_ms")
        others = M._prior_free(self.encoding, items, latency_ms)
        v = (latency_ms / np.mean(latency_ms)) ** 2
        groups = M.variance_groups(self.model.onehot_width, self.model.feature_names)
        cands = {"prior": loo_prior}
        heads = {}
        if not replace_flat:
            heads["flat"], cands["flat"], _ = M.flat_adapt(groups, phi, latency_ms, v)
        heads["ard"], cands["ard"], hyp = ard_prior_candidate(self.model, phi, latency_ms, v, groups)
        cands.update({k: p.loo_ms for k, p in others.items()})
        blend = M.choose_blend(latency_ms, cands)
        self.weights = blend["weights"]
        self.others = {k: p for k, p in others.items() if k in self.weights}
        self.extra = {k: h for k, h in heads.items() if k in self.weights}
        self.hyper["blend"] = blend
        self.hyper["ard"] = hyp
        self.floor = 0.25 * float(np.min(latency_ms))

    def _predict(self, items):
        phi = self.model.basis(self.encoding, items)
        pred = self.weights.get("prior", 0.0) * (phi @ self.head)
        for k, h in self.extra.items():
            pred = pred + self.weights[k] * (phi @ h)
        for k, p in self.others.items():
            pred = pred + self.weights[k] * p._predict(items)
        return np.maximum(pred, self.floor)
    M.MetaPredictor._fit = _fit
    M.MetaPredictor._predict = _predict


def patch_rank_guard(tol=0.0):
    from scipy.stats import spearmanr
    orig = M.choose_blend
    def choose_blend(y, loo, step=M.BLEND_STEP, margin=None):
        out = orig(y, loo, step, margin)
        names = list(loo)
        if out["weights"] != {names[0]: 1.0}:
            pred = sum(w * loo[k] for k, w in out["weights"].items())
            if spearmanr(pred, y)[0] < spearmanr(loo[names[0]], y)[0] - tol:
                out = {**out, "weights": {names[0]: 1.0}, "reason": "rank guard"}
        return out
    M.choose_blend = choose_blend


def patch_honest_blend(margin=None):
    """The blend rule tests the *selection* of the best combination honestly: each sample's blend error is that of
    the combination chosen without it (the least mean error over the other samples), so the minimum over the grid's
    combinations is no longer scored on the samples that chose it (issue 20, seventh session)."""
    def choose_blend(y, loo, step=M.BLEND_STEP, margin=margin, resamples=M.BLEND_RESAMPLES):
        margin = M.BLEND_MARGIN if margin is None else margin
        names = list(loo)
        preds = np.stack([loo[k] for k in names])
        steps = int(round(1 / step))
        grid = np.array(list(M._simplex(len(names), steps)), dtype=np.float64) / steps

        def clipped(p):
            return np.minimum(np.abs(p - y) / y, M.LOO_CLIP)

        errors = clipped(grid @ preds)
        mean_errors = errors.mean(1)

        def rule(idx):
            e = errors[:, idx]
            best = int(np.argmin(e.mean(1)))
            without = np.argmin(e.sum(1)[:, None] - e, axis=0)  # the choice made without each sample
            diff = e[0] - e[without, np.arange(len(idx))]
            return best if np.mean(diff) > margin * np.std(diff) / np.sqrt(len(idx)) else 0

        n = len(y)
        point = rule(np.arange(n))
        rng = np.random.default_rng(0)
        wts = np.mean([grid[rule(rng.integers(0, n, n))] for _ in range(resamples)], axis=0) if resamples else grid[point]
        alone = {k: float(e) for k, e in zip(names, clipped(preds).mean(1))}
        err = float(np.mean(clipped(wts @ preds)))
        weights = {k: float(wts[i]) for i, k in enumerate(names) if wts[i] > 0}
        reason = "honest blend: " + ("left the prior" if point else "kept the prior") + f" ({mean_errors.min():.3f})"
        return {"weights": weights, "loo_error": alone, "blend_error": err, "prior_fits": point == 0, "reason": reason}
    M.choose_blend = choose_blend


def patch_flat_with_prior_mean(nearest=(), extra=False):
    """`flat` gets the prior's mean prediction (``phi @ mu``, all sources; and the mean head of the ``nearest`` k
    sources by correlation with the samples) as columns of their own, each with its own variance chosen by the
    evidence: the prior then costs one degree of freedom, kept only if the samples say so (issue 20, seventh
    session). ``extra``: as a fifth candidate of the blend (``flatmu``) beside the unchanged ``flat``."""
    seen = {}
    orig_adapt, orig_flat = M.adapt, M.flat_adapt

    def adapt(model, phi, y, *a, **k):
        seen["model"], seen["phi"] = model, phi
        return orig_adapt(model, phi, y, *a, **k)

    def flat_mu(groups, phi, y, v):
        model = seen["model"]
        assert seen["phi"] is phi
        # the mean heads of all sources and of the neighbourhoods meta's own priors use (M._priors)
        heads = [mu for _, mu, _ in M._priors(model, phi, y, nearest)]
        cols, norms = [], []
        for h in heads:
            z = phi @ h
            norms.append(float(np.mean(z)))
            cols.append(z / norms[-1])
        aug = np.concatenate([phi[:, :-1], np.array(cols).T, phi[:, -1:]], axis=1)
        d = phi.shape[1] - 1
        g = dict(groups)
        for i in range(len(cols)):
            g[f"prior{i}"] = np.array([d + i])
        head_aug, loo, hyper = orig_flat(g, aug, y, v)
        head = np.concatenate([head_aug[:d], head_aug[-1:]])
        for i, h in enumerate(heads):
            head = head + head_aug[d + i] * h / norms[i]
        return head, loo, hyper

    M.adapt = adapt
    if not extra:
        M.flat_adapt = flat_mu
        return
    orig_choose = M.choose_blend
    stash = {}

    def flat_both(groups, phi, y, v):
        stash["mu"] = flat_mu(groups, phi, y, v)
        return orig_flat(groups, phi, y, v)

    def choose_blend(y, loo, *a, **k):
        return orig_choose(y, {**loo, "flatmu": stash["mu"][1]}, *a, **k)

    M.flat_adapt, M.choose_blend = flat_both, choose_blend
    # predictions: the fifth candidate's head is folded into flat's with the blend weights
    orig_fit = M.MetaPredictor._fit

    def _fit(self, items, latency_ms):
        orig_fit(self, items, latency_ms)
        w = self.weights.pop("flatmu", 0.0)
        if w > 0:
            fl = self.weights.get("flat", 0.0)
            flat_head = self.flat_head if self.flat_head is not None else 0.0
            self.flat_head = (fl * flat_head + w * stash["mu"][0]) / (fl + w)
            self.weights["flat"] = fl + w

    M.MetaPredictor._fit = _fit


def patch_active(noise=None, choice_variance=None, random_share=0.0):
    """The active choice's design (nasedge.predict.active): its noise (larger: less pull to the edges of the cost
    range), the one-hot choices' prior variance, and a share of the picks left random (issue 20, seventh session)."""
    import nasedge.predict.active as A
    if noise is not None:
        A.DESIGN_NOISE = noise
    if choice_variance is not None:
        A.CHOICE_VARIANCE = choice_variance
    orig = A.select_archs

    def select_archs(encoding, measured, candidates, n):
        if n <= 0 or not candidates:
            return []
        k = int(round(n * (1 - random_share)))
        x = A.design_basis(encoding, [*measured, *candidates], A.CHOICE_VARIANCE)
        picks = A.v_optimal(x, len(measured), k, A.DESIGN_NOISE)
        rest = [i for i in range(len(candidates)) if i not in set(picks)]  # the pool is a random permutation
        return picks + rest[: n - k]

    A.select_archs = select_archs if (random_share or choice_variance is not None or noise is not None) else orig


def patch_without_totals():
    """`meta` as it was before the eighth session: no `totals` candidate in the blend, and more samples asked for
    wherever the blend leaves the prior (no MISMATCH_GAIN). Adopted as `nasedge.predict.totals` from the variant
    `kinds` of the seventh session (the same model; the variant `kindslog`, in log ms, was not better)."""
    M.PRIOR_FREE = {k: v for k, v in M.PRIOR_FREE.items() if k != "totals"}
    M.MISMATCH_GAIN = 0.0


def patch_resolution_kind():
    """The input resolution a kind of its own, not one of the counts (flat: its own variance; totals: its own column)."""
    import nasedge.predict.totals as T
    orig = M.feature_kind

    def kind(name):
        return "resolution" if name == "resolution" else orig(name)
    M.feature_kind = T.feature_kind = kind


def patch_live_kind():
    """NAS-Bench-201's live costs (what a graph compiler keeps: live op counts, live MACs, connected) a kind of their
    own, apart from the costs of every op."""
    import nasedge.predict.totals as T
    orig = M.feature_kind

    def kind(name):
        return "live" if name.startswith("live_") or name == "connected" else orig(name)
    M.feature_kind = T.feature_kind = kind


def patch_depthwise_by_kernel():
    """Depthwise MACs a kind per kernel size (a larger kernel does more MACs per byte it reads), on top of the
    resolution as a kind of its own."""
    import re
    import nasedge.predict.totals as T
    orig = M.feature_kind

    def kind(name):
        k = orig(name)
        m = re.search(r"dw(\d)", name)
        return f"depthwise{m.group(1)}" if k == "depthwise" and m else k
    M.feature_kind = T.feature_kind = kind


def patch_resolution_in_counts():
    """The input resolution one of the counts again, as before the ninth session."""
    import nasedge.predict.totals as T
    orig = M.feature_kind

    def kind(name):
        return "counts" if name == "resolution" else orig(name)
    M.feature_kind = T.feature_kind = kind


def patch_nested_ridge(which=("totals",)):
    """The leave-one-out predictions a ridge candidate is weighed by in the blend are honest about its ridge
    strength: each left-out sample is predicted with the strength chosen by leave-one-out on the others."""
    import nasedge.predict.regressor as R
    from nasedge.predict.totals import TotalsPredictor
    classes = {"totals": TotalsPredictor, "regressor": R.RegressorPredictor}

    def nested(X, y):
        n = len(y)
        out = np.empty(n)
        for i in range(n):
            keep = np.arange(n) != i
            f = R.ridge_loo(X[keep], y[keep])
            out[i] = y[i] - (X[i] @ f.weights + f.bias)
        return out

    for name in which:
        cls = classes[name]
        orig = cls._fit

        def _fit(self, items, latency_ms, _orig=orig):
            _orig(self, items, latency_ms)
            t = np.log(latency_ms) if self.log else latency_ms
            resid = nested(self._design(items), t)
            self.loo_ms = latency_ms * np.exp(-resid) if self.log else latency_ms - resid
        cls._fit = _fit


def patch_dof_guard(per_dof=2.0, which=("totals", "regressor")):
    """A ridge candidate (totals, regressor) enters the blend only with at least ``per_dof`` samples per effective
    degree of freedom (the trace of its hat matrix, the intercept included): below that its leave-one-out error on
    the few samples says little about the archs off them."""
    import nasedge.predict.regressor as R
    orig_fit, orig_free = R.RidgePredictor._fit, M._prior_free

    def _fit(self, items, latency_ms):
        orig_fit(self, items, latency_ms)
        X = self._design(items)
        s = np.linalg.svd(X - X.mean(0), compute_uv=False)
        self.dof = float(np.sum(s**2 / (s**2 + self.alpha))) + 1.0

    def _prior_free(encoding, items, y):
        out = orig_free(encoding, items, y)
        return {k: p for k, p in out.items() if k not in which or len(y) >= per_dof * getattr(p, "dof", 0.0)}
    R.RidgePredictor._fit = _fit
    M._prior_free = _prior_free


def patch_totals_without_resolution():
    """totals without a resolution column (its cost is in the MACs and activations it multiplies); flat keeps the
    resolution as a kind of its own."""
    from nasedge.predict.totals import TotalsPredictor
    orig_init = TotalsPredictor.__init__

    def __init__(self, space, **options):
        orig_init(self, space, **options)
        names = self.encoding.feature_names
        self.kinds = [cols for cols in self.kinds if [names[i] for i in cols] != ["resolution"]]
    TotalsPredictor.__init__ = __init__


def _set_flat(flat_adapt):
    M.flat_adapt = flat_adapt


_MACS_AND_ACTIVATIONS = ('pointwise', 'depthwise', 'squeeze-excite', 'activations')
VARIANTS = {  # name -> what it patches
    'flatloo': lambda: _set_flat(flat_noise_loo(M.NOISE)),
    'flatloo6': lambda: _set_flat(flat_noise_loo((1e-6, 1e-5) + M.NOISE)),
    'flatbma': lambda: _set_flat(flat_noise_bma(M.NOISE)),
    'flatbma6': lambda: _set_flat(flat_noise_bma((1e-6, 1e-5) + M.NOISE)),
    'hier': lambda: patch_fit(kind_sums),
    'hiermac': lambda: patch_fit(lambda m: kind_sums(m, _MACS_AND_ACTIVATIONS)),
    'ard': lambda: patch_ardprior(),
    'ardonly': lambda: patch_ardprior(replace_flat=True),
    'rank': lambda: patch_rank_guard(),
    'hier+rank': lambda: (patch_fit(kind_sums), patch_rank_guard()),
    'honest': lambda: patch_honest_blend(),
    'honest05': lambda: patch_honest_blend(0.5),
    'honest0': lambda: patch_honest_blend(0.0),
    'flatmu': lambda: patch_flat_with_prior_mean(),
    'flatmu3': lambda: patch_flat_with_prior_mean((3,)),
    'flatmu38': lambda: patch_flat_with_prior_mean((3, 8)),
    'flatmu+': lambda: patch_flat_with_prior_mean(extra=True),
    'flatmu3+': lambda: patch_flat_with_prior_mean((3,), extra=True),
    'before-totals': lambda: patch_without_totals(),
    'no-mismatch-gain': lambda: setattr(M, 'MISMATCH_GAIN', 0.0),  # totals, and more samples wherever the blend leaves the prior
    'clip10': lambda: setattr(M, 'LOO_CLIP', 0.1),  # the blend scores leave-one-out errors clipped at 10 %, not 30 %
    'clip15': lambda: setattr(M, 'LOO_CLIP', 0.15),
    'resolution-kind': lambda: patch_resolution_kind(),
    'live-kind': lambda: patch_live_kind(),
    'dw-by-kernel': lambda: patch_depthwise_by_kernel(),
    'resolution-in-counts': lambda: patch_resolution_in_counts(),
    'nested-totals': lambda: patch_nested_ridge(),
    'nested-ridge': lambda: patch_nested_ridge(("totals", "regressor")),
    'dof-guard': lambda: patch_dof_guard(),
    'dof-guard-totals': lambda: patch_dof_guard(which=("totals",)),
    'totals-no-resolution': lambda: patch_totals_without_resolution(),
    'act_noise1': lambda: patch_active(noise=1.0),
    'act_noise10': lambda: patch_active(noise=10.0),
    'act_feat': lambda: patch_active(choice_variance=0.0),
    'act_half': lambda: patch_active(random_share=0.5),
    'act_feat_noise1': lambda: patch_active(noise=1.0, choice_variance=0.0),
}


def apply(name):
    if name not in VARIANTS:
        from nasedge.errors import unknown_name
        raise unknown_name("variant", name, list(VARIANTS))
    VARIANTS[name]()
