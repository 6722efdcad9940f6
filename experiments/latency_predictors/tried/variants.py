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


def _finish(groups, names, phi, y, r, scale, fixed, grams, ts, s2, v):
    ev, chol, alpha = M._evidence(fixed + np.tensordot(ts, grams, 1), r, s2 * v)
    n = len(y)
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(n)))
    loo_ms = y - (k_inv @ r / np.diag(k_inv)) / scale
    var = np.zeros(phi.shape[1])
    var[-1] = M.BIAS_VARIANCE
    for t, k in zip(ts, names):
        var[groups[k]] = t
    head = var * (phi.T @ alpha) / scale
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
}


def apply(name):
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name}; known: {', '.join(VARIANTS)}")
    VARIANTS[name]()
