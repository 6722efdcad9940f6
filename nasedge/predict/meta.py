"""``meta``: a latency prior meta-learned over many devices, adapted to a new device with a few samples.

HELP (Lee et al., NeurIPS 2021) meta-trains an MLP with MAML and conditions it on a hardware
embedding (the latencies of 10 reference archs). This predictor replaces both with a hierarchical
Bayesian linear model, which is faster to train, needs no GPU, and predicts better on the HELP
benchmark (see experiments/latency_predictors/README.md):

* **basis** ``phi(x)``: the one-hot choices and the raw cost features of an arch (MACs by kind,
  activation traffic, layers; see :mod:`nasedge.predict.encodings`) plus a constant. Latency is a
  sum over layers, so it is close to linear in these, in milliseconds (not in log space).
* **meta-training** (:func:`meta_train`): one ridge head ``w_d`` per source device, fitted on all its
  measurements and normalised to unit mean prediction over the shared arch pool. The heads' mean
  and covariance form the prior over the head of a device never seen.
* **adaptation** (:meth:`MetaPredictor.fit`): the target's samples, rescaled to the prior's scale,
  give the posterior mean head under the prior ``N(mu, a*S + t*I)`` and Student-t noise of relative
  scale ``s2`` (latency noise is heavy-tailed, a measurement is sometimes slow, never fast, and it
  grows with the latency); ``a``, ``t``, ``s2`` maximise the marginal likelihood of the samples
  (empirical Bayes), so a device unlike the sources loosens the prior by itself. The same is done
  under *neighbourhood priors*, the mean and covariance of the few source heads most like the target,
  and the posterior heads are averaged; see :func:`adapt`.
* **a prior that does not fit** (a device unlike every source: a phone or CPU under a GPU-only prior):
  the prior-based head competes with models of the samples alone (the same basis under a zero-mean
  prior, :func:`flat_adapt`; ``regressor``; ``flops``; ``totals``) by leave-one-out error on the target's own
  samples, and the best convex blend of them replaces the prior-based head only where it is clearly
  better, averaged over bootstrap resamples of the samples (:func:`choose_blend`); the fitted state
  records the weights and why. The predictor then asks
  for more samples (:meth:`MetaPredictor.more_samples`), which a profile measured by nasedge takes.

The hardware embedding of HELP is implicit here: the posterior head of a device *is* its embedding
in the span of the source devices (plus an isotropic part), and the reference archs are simply the
first samples measured on a new device (:func:`nasedge.predict.profile.reference_archs`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.atomic import atomic_write_bytes, atomic_write_text
from nasedge.errors import NasedgeError, is_integer, is_real
from nasedge.npz import read_npz
from nasedge.predict.base import LatencyPredictor, PredictorConfig, StaleState, single_blas_thread
from nasedge.predict.encodings import LatencyEncoding, get_encoding
from nasedge.predict.encodings.base import feature_kind
from nasedge.predict.flops import FlopsPredictor
from nasedge.predict.regressor import ROBUST_NU, RegressorPredictor
from nasedge.predict.totals import TotalsPredictor
from nasedge.resources import shipped_path

FORMAT = 1
RIDGE = 1e-2  # source heads: thousands of samples each, so only a touch of ridge for conditioning
PRIOR_SCALES = (0.25, 1.0, 4.0)  # a: how far the target's head may move along the sources' spread
ISOTROPIC = (1e-5, 1e-4, 1e-3, 1e-2)  # t: room for directions the sources do not span
NOISE = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)  # s2: noise variance, in units of the normalised latency
BIAS_VARIANCE = 100.0  # the constant term is free (launch overheads differ widely)
STUDENT_NU = 1.0
ROBUST_ITERS = 10


@dataclass(frozen=True, eq=False)
class MetaModel:
    """The meta-trained prior of one encoding family: feature scaling and the source devices' heads."""

    family: str
    onehot_width: int
    feature_names: tuple[str, ...]
    feature_scale: np.ndarray  # divides the raw cost features
    devices: tuple[str, ...]
    heads: np.ndarray  # (devices, onehot + features + 1), normalised
    info: dict = field(default_factory=dict)  # provenance: datasets, archs, created

    def basis(self, enc: LatencyEncoding, items: Sequence) -> np.ndarray:
        if enc.family != self.family:
            raise NasedgeError(f"meta model of family {self.family!r} cannot predict space {enc.name!r} "
                               f"(family {enc.family!r})")
        if tuple(enc.feature_names) != self.feature_names:
            raise NasedgeError(f"meta model features do not match space {enc.name!r}; retrain the meta model")
        oh = enc.onehot(items)
        if oh.shape[1] != self.onehot_width:
            raise NasedgeError(f"space {enc.name!r} encodes {oh.shape[1]} choice columns; the meta model was "
                               f"trained with {self.onehot_width} (different choices); retrain the meta model")
        return np.concatenate([oh, enc.features(items) / self.feature_scale, np.ones((len(items), 1))], axis=1)

    def prior(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the source heads (no covariance on the constant term)."""
        mu = self.heads.mean(0)
        cov = np.cov(self.heads.T) if len(self.heads) > 1 else np.zeros((len(mu), len(mu)))
        cov[-1, :] = cov[:, -1] = 0.0
        return mu, cov

    def without(self, devices: Sequence[str]) -> MetaModel:
        """The same prior with the heads of ``devices`` left out (a benchmark's held-out target)."""
        keep = [i for i, d in enumerate(self.devices) if d not in set(devices)]
        if len(keep) == len(self.devices):
            return self
        return MetaModel(self.family, self.onehot_width, self.feature_names, self.feature_scale,
                         tuple(self.devices[i] for i in keep), self.heads[keep],
                         {**self.info, "left_out": sorted(set(devices) & set(self.devices))})

    @functools.cached_property
    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.feature_scale, self.heads):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        h.update(json.dumps([self.family, self.onehot_width, list(self.devices)]).encode())
        return h.hexdigest()[:16]

    # --- persistence: <stem>.npz (arrays) + <stem>.json (metadata) ----------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path).with_suffix(".npz")
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, feature_scale=self.feature_scale, heads=self.heads)
        atomic_write_bytes(path, buf.getvalue())
        meta = {"format": FORMAT, "family": self.family, "onehot_width": self.onehot_width,
                "feature_names": list(self.feature_names), "devices": list(self.devices), "digest": self.digest,
                "info": self.info}
        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> MetaModel:
        path = Path(path).with_suffix(".npz")
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
        except FileNotFoundError as exc:
            raise NasedgeError(f"{exc.filename}: meta model file not found") from None
        except (json.JSONDecodeError, ValueError, OSError) as exc:
            raise NasedgeError(f"{path.with_suffix('.json')}: not a valid meta model "
                               f"({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict):
            raise NasedgeError(f"{path.with_suffix('.json')}: not a valid meta model (not a JSON object)")
        if meta.get("format") != FORMAT:
            raise NasedgeError(f"{path.with_suffix('.json')}: field 'format': value {meta.get('format')!r} "
                               f"is not supported; expected {FORMAT}")
        absent = [k for k in ("family", "onehot_width", "feature_names", "devices") if k not in meta]
        if absent:
            raise NasedgeError(f"{path.with_suffix('.json')}: field {absent[0]!r}: missing")
        arrays = read_npz(path, ("feature_scale", "heads"), "meta model")
        scale, heads = arrays["feature_scale"].astype(np.float64), arrays["heads"].astype(np.float64)
        model = cls(meta["family"], int(meta["onehot_width"]), tuple(meta["feature_names"]), scale,
                    tuple(meta["devices"]), heads, meta.get("info", {}))
        if heads.shape != (len(model.devices), model.onehot_width + len(model.feature_names) + 1):
            raise NasedgeError(f"{path}: heads of shape {heads.shape} do not match the metadata")
        return model


class StaleMetaModel(StaleState):
    """A fitted state refers to a meta model other than the one loaded (refit from the measurements)."""


def shipped_model_path(space: str, family: str) -> Path:
    """``latency_predictors/meta/<space>.npz`` if shipped, else the family's ``<family>.npz``."""
    folder = shipped_path("latency_predictors") / "meta"
    own = folder / f"{space}.npz"
    return own if own.is_file() else folder / f"{family}.npz"


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime: float) -> MetaModel:
    return MetaModel.load(path)


def _shipped_prior(enc: LatencyEncoding) -> tuple[Optional[MetaModel], str]:
    """The shipped meta model for ``enc``'s space, or None and why none fits it (no model of its family, or one
    with other cost features: a family's spaces with other stage counts)."""
    try:
        model = load_meta_model(None, enc)
    except NasedgeError:
        return None, f"none is shipped for family {enc.family!r}"
    if model.family != enc.family or model.feature_names != tuple(enc.feature_names):
        return None, f"the shipped one of family {model.family!r} has other cost features than space {enc.name!r}"
    return model, ""


def load_meta_model(path: str | Path | None = None, space: LatencyEncoding | str | None = None) -> MetaModel:
    """A meta model from ``path``, or the shipped one for ``space`` (cached while the file is unchanged)."""
    if path is None:
        enc = get_encoding(space)
        p = shipped_model_path(enc.name, enc.family)
    else:
        p = Path(path).with_suffix(".npz")
    if not p.is_file():
        if path is None:
            raise NasedgeError(f"no meta-trained latency model is shipped for space {enc.name!r} "
                               f"({p} missing); train one with experiments/latency_predictors/train_meta.py")
        raise NasedgeError(f"{p}: meta model file not found")
    return _load_cached(str(p), p.stat().st_mtime)


def meta_train(encoding: LatencyEncoding, items: Sequence, latency: np.ndarray, devices: Sequence[str],
               info: dict | None = None, ridge: float = RIDGE) -> MetaModel:
    """Fit the source heads: ``latency[i, j]`` is item ``i`` on ``devices[j]`` in ms (NaN: not measured)."""
    latency = np.asarray(latency, dtype=np.float64)
    if latency.shape != (len(items), len(devices)):
        raise ValueError(f"latency has shape {latency.shape}; expected ({len(items)}, {len(devices)})")
    feats = encoding.features(items)
    scale = feats.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    oh = encoding.onehot(items)
    model = MetaModel(encoding.family, oh.shape[1], tuple(encoding.feature_names), scale, tuple(devices),
                      np.zeros((0, 0)), dict(info or {}))
    phi = np.concatenate([oh, feats / scale, np.ones((len(items), 1))], axis=1)
    heads = []
    eye = ridge * np.eye(phi.shape[1])
    with single_blas_thread():
        for j, dev in enumerate(devices):
            m = np.isfinite(latency[:, j])
            if m.sum() < 2:
                raise NasedgeError(f"device {dev!r} has {int(m.sum())} measurements; meta-training needs more")
            a = phi[m]
            w = np.linalg.solve(a.T @ a + eye, a.T @ latency[m, j])
            heads.append(w / np.mean(phi @ w))  # unit mean over the shared pool: devices become comparable
    return MetaModel(model.family, model.onehot_width, model.feature_names, scale, tuple(devices),
                     np.array(heads), dict(info or {}))


@functools.cache
def _lapack() -> Any:
    from scipy.linalg import lapack  # on first use: scipy.linalg costs 0.2 s of import to every command loading meta

    return lapack


def _cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``k``; :class:`numpy.linalg.LinAlgError` where it is not positive definite.

    LAPACK's potrf and potrs directly: the adaptation factorises thousands of 20x20 to 200x200 matrices per fit,
    and numpy's cholesky with two general solves after it (an LU factorisation each) took 5-7 times as long
    (experiments/latency_predictors/README.md, "Fitting time")."""
    chol, info = _lapack().dpotrf(k, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix not positive definite (potrf: {info})")
    return chol


def _cho_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``k^-1 b`` from the lower Cholesky factor of ``k``."""
    x, info = _lapack().dpotrs(chol, b, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potrs: {info}")
    return x


def _reweighted_fit(g: np.ndarray, r: np.ndarray, noise: np.ndarray, nu: float, iters: int):
    """``alpha = (g + diag(noise / w))^-1 r``, Student-t weights ``w`` from ``iters`` reweighting rounds."""
    w = np.ones(len(r))
    for it in range(iters + 1):
        chol = _cholesky(g + np.diag(noise / w))
        alpha = _cho_solve(chol, r)
        if it < iters:
            w = (nu + 1.0) / (nu + (r - g @ alpha) ** 2 / noise)
    return alpha, w, chol


QUANTA = (1000.0, 100.0, 10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6)  # reporting steps, ms (phones: whole ms)
COARSE_QUANTUM = 0.01  # steps from this one up are recognised whatever the samples (published data's steps)
FINE_SHARE = 1e-3  # a finer step is recognised from this share of the median sample on (a microsecond timer)


def rounding_variance(y: np.ndarray) -> float:
    """Variance (ms^2) of the rounding in samples reported in steps of ``q``: ``q^2 / 12``, the variance of
    a uniform error of one step, for the largest step of :data:`QUANTA` that every sample is a multiple of
    (one finer than :data:`COARSE_QUANTUM` only where it is at least :data:`FINE_SHARE` of the median
    sample); 0 when the samples are finer. Phones report whole milliseconds: for a 3-5 ms network that is a
    6-10 % error no model can remove, and the relative noise model would otherwise count it as precise; a
    0.03 ms accelerator timed in whole microseconds has the same 3 %, a board timed in 10 ms ticks more."""
    floor = FINE_SHARE * float(np.median(np.abs(y))) if len(y) else np.inf
    for q in QUANTA:
        if (q >= COARSE_QUANTUM or q >= floor) and np.all(np.abs(y / q - np.round(y / q)) < 1e-6):
            return q * q / 12.0
    return 0.0


EVIDENCE = ("both", "gaussian", "student_t")
NOISE_MODELS = ("relative", "absolute")
NEIGHBOURS = (3, 5, 8, 12)  # sizes of the neighbourhood priors (see adapt)
NEIGHBOUR_SHARE = 0.1  # of the all-source covariance added to a neighbourhood's own


def _priors(model: MetaModel, phi: np.ndarray, y: np.ndarray,
            neighbours: Sequence[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, mean, covariance)``: the prior of all sources, then one per neighbourhood size ``k``."""
    mu, cov = model.prior()
    priors = [("all", mu, cov)]
    ks = [k for k in neighbours if 2 <= k < len(model.heads)]
    if ks:
        pred = phi @ model.heads.T
        # equal samples (a device timed too coarsely to tell the archs apart) correlate with no source
        corr = np.array([np.corrcoef(pred[:, j], y)[0, 1] if np.std(pred[:, j]) > 0 and np.std(y) > 0 else -1.0
                         for j in range(pred.shape[1])])
        order = np.argsort(-np.nan_to_num(corr, nan=-1.0), kind="stable")
        for k in ks:
            heads = model.heads[order[:k]]
            local = np.cov(heads.T) + NEIGHBOUR_SHARE * cov
            local[-1, :] = local[:, -1] = 0.0
            name = f"nearest {k}: " + ", ".join(model.devices[j] for j in order[:k])
            priors.append((name, heads.mean(0), local))
    return priors


def adapt(model: MetaModel, phi: np.ndarray, y: np.ndarray, robust_iters: int = ROBUST_ITERS,
          nu: float = STUDENT_NU, evidence: str = "both", noise: str = "relative",
          neighbours: Sequence[int] = NEIGHBOURS) -> tuple[np.ndarray, dict[str, Any]]:
    """Head of a target device (in ms) given its samples; and the hyperparameters chosen per prior.

    Noise is Student-t (``nu`` degrees of freedom) as a scale mixture of Gaussians: each sample gets a
    weight ``w_i`` (noise variance ``s2 * v_i / w_i``) from ``robust_iters`` rounds of reweighting;
    with ``noise="relative"``, ``v_i = (y_i / mean y)^2``: a measurement's error scales with its latency,
    and the quality that counts is relative; ``"absolute"``: ``v_i = 1``. Two empirical-Bayes choices of
    ``(a, t, s2)`` compete: the one of greatest Gaussian marginal likelihood, and the one of greatest
    Student-t evidence (marginal likelihood of the reweighted model plus the Gamma(nu/2, nu/2)
    log-density of the weights). The first can pick a noise so small that the fit interpolates noisy
    samples; the second can explain a wrong prior away as outliers (a device unlike every source). The
    one with the smaller leave-one-out error on the samples wins (relative error, clipped at 30 % so
    that real outliers do not decide). ``evidence`` restricts the choice to one of them (for ablations).

    Neighbourhood priors: for each ``k`` in ``neighbours``, the mean and covariance of the ``k`` source
    heads whose predictions correlate best with the samples (plus a tenth of the all-source covariance),
    the sources that are most like the target; a GPU at batch 64 is then not pulled towards the CPUs'
    way of scaling. The head is the mean of the posterior heads under the all-source prior and each
    neighbourhood prior (picking one of them by leave-one-out error did about as well, averaging a
    little better and steadier).
    """
    if evidence not in EVIDENCE:
        raise NasedgeError(f"evidence {evidence!r} is not valid; expected one of {', '.join(EVIDENCE)}")
    if noise not in NOISE_MODELS:
        raise NasedgeError(f"noise {noise!r} is not valid; expected one of {', '.join(NOISE_MODELS)}")
    n, dim = phi.shape
    ones = np.outer(phi[:, -1], phi[:, -1])
    g_iso_nobias = phi @ phi.T - ones  # the isotropic part leaves the constant term to BIAS_VARIANCE
    v = (y / np.mean(y)) ** 2 if noise == "relative" else np.ones(n)
    rounding = rounding_variance(y)
    heads, chosen, loo = [], [], []
    for name, mu, cov in _priors(model, phi, y, neighbours):
        err, how, a, t, s2, alpha, w, scale, loo_ms = _adapt_around(mu, phi, y, phi @ cov @ phi.T, g_iso_nobias, ones,
                                                                    v, rounding, robust_iters, nu, evidence)
        cov_t = a * cov + t * np.eye(dim)
        cov_t[-1, :] = cov_t[:, -1] = 0.0
        cov_t[-1, -1] = BIAS_VARIANCE
        heads.append((mu + cov_t @ phi.T @ alpha) / scale)
        loo.append(loo_ms)
        chosen.append({"prior": name, "evidence": how, "prior_scale": a, "isotropic": t, "noise": s2,
                       "scale": scale, "loo_error": err, "downweighted": int(np.sum(w < 0.5))})
    return np.mean(heads, axis=0), {"priors": chosen, "downweighted": max(c["downweighted"] for c in chosen),
                                    "loo_ms": np.mean(loo, axis=0)}


def _adapt_around(mu, phi, y, g_src, g_iso_nobias, ones, v, rounding, robust_iters, nu, evidence):
    """For a prior centred on ``mu``: ``(loo_error, evidence, a, t, s2, alpha, w, scale, loo_ms)`` of the best
    fit, ``loo_ms`` the leave-one-out prediction of every sample in milliseconds. ``rounding``: variance
    (ms^2) of the samples' rounding, a noise that is never an outlier (not reweighted)."""
    n = len(y)
    m = phi @ mu
    scale = float(np.mean(m) / np.mean(y))  # the target's milliseconds onto the prior's unit scale
    r = y * scale - m
    fixed = BIAS_VARIANCE * ones + rounding * scale**2 * np.eye(n)
    best: dict[str, tuple] = {}
    for a in PRIOR_SCALES:
        for t in ISOTROPIC:
            g = a * g_src + t * g_iso_nobias + fixed
            for s2 in NOISE:
                try:
                    alpha, _, chol = _reweighted_fit(g, r, s2 * v, nu, 0)
                    gaussian = -0.5 * r @ alpha - np.log(np.diag(chol)).sum()
                    alpha, w, chol = _reweighted_fit(g, r, s2 * v, nu, robust_iters)
                except np.linalg.LinAlgError:
                    continue
                student = (-0.5 * r @ alpha - np.log(np.diag(chol)).sum()
                           + np.sum((nu / 2 - 1) * np.log(w) - nu * w / 2))
                for name, score in (("gaussian", gaussian), ("student_t", student)):
                    if evidence not in ("both", name):
                        continue
                    if name not in best or score > best[name][0]:
                        best[name] = (score, a, t, s2, g)
    chosen = None
    for name, (_, a, t, s2, g) in best.items():
        alpha, w, chol = _reweighted_fit(g, r, s2 * v, nu, robust_iters)
        k_inv = _cho_solve(chol, np.eye(n))
        resid = k_inv @ r / np.diag(k_inv)  # sample minus its leave-one-out prediction, prior units
        err = float(np.mean(np.minimum(np.abs(resid) / np.abs(y * scale), 0.3)))
        if chosen is None or err < chosen[0]:
            chosen = (err, name, a, t, s2, alpha, w, scale, y - resid / scale)
    return chosen


FLAT_VARIANCES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # per-group prior variances of the prior-free model
FLAT_SWEEPS = 3  # rounds of coordinate ascent over the group variances


def variance_groups(onehot_width: int, feature_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of the meta basis (the constant excluded) that share a prior variance in :func:`flat_adapt`:
    the choices, and the cost features of each kind (:func:`feature_kind`)."""
    groups: dict[str, list[int]] = {"choices": list(range(onehot_width))}
    for i, name in enumerate(feature_names):
        groups.setdefault(feature_kind(name), []).append(onehot_width + i)
    return {k: np.array(v, dtype=np.int64) for k, v in groups.items() if v}


def flat_adapt(groups: dict[str, np.ndarray], phi: np.ndarray, y: np.ndarray,
               v: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """The meta basis fitted on the target's samples alone: ``(head, loo_ms, hyper)``.

    A zero-mean Gaussian prior with one variance per group of columns (``groups``, from
    :func:`variance_groups`; the constant free) and Gaussian noise of relative scale ``s2 * v``; the
    variances and the noise maximise the marginal likelihood, by coordinate ascent on a grid (a variance
    may be 0: the evidence can drop a kind of cost the device does not pay for). The ascent starts from
    a 10 % relative noise and sets the noise after each sweep over the variances; searching the noise
    together with each variance finds greater evidence, but on noisy devices a smaller noise that
    interpolates the samples (exact devices gained, noisy ones lost more; see the README). The fit at those
    settings reweights the samples as Student-t noise (:data:`~nasedge.predict.regressor.ROBUST_NU`), so that a
    sample read slow does not pull the head. With the cost features grouped by kind this is the model family of
    the ``oracle`` with an automatic-relevance prior, and no source device in it: a cost feature carries across
    device types where a source head does not.
    """
    n = len(y)
    scale = 1.0 / float(np.mean(y))
    r = y * scale
    names = list(groups)
    grams = np.stack([phi[:, groups[k]] @ phi[:, groups[k]].T for k in names])
    # the free constant, and the rounding of the samples (a noise of its own, not relative)
    fixed = BIAS_VARIANCE * np.outer(phi[:, -1], phi[:, -1]) + rounding_variance(y) * scale**2 * np.eye(n)
    # coordinate ascent over the group variances, then the noise, from a 10 % relative noise
    ts, s2 = [1e-2] * len(names), 1e-2
    for _ in range(FLAT_SWEEPS):
        for i in range(len(names)):
            ts[i] = max(FLAT_VARIANCES, key=lambda t: _evidence(fixed + np.tensordot([*ts[:i], t, *ts[i + 1:]],
                                                                                     grams, 1), r, s2 * v)[0])
        s2 = max(NOISE, key=lambda s: _evidence(fixed + np.tensordot(ts, grams, 1), r, s * v)[0])
    # Student-t noise for the fit itself, as the ridge of the other prior-free models: a hiccup among the samples
    # would otherwise pull every coefficient
    alpha, _, chol = _reweighted_fit(fixed + np.tensordot(ts, grams, 1), r, s2 * v, ROBUST_NU, ROBUST_ITERS)
    k_inv = _cho_solve(chol, np.eye(n))
    loo_ms = y - (k_inv @ r / np.diag(k_inv)) / scale
    var = np.zeros(phi.shape[1])
    var[-1] = BIAS_VARIANCE
    for t, k in zip(ts, names):
        var[groups[k]] = t
    head = var * (phi.T @ alpha) / scale
    return head, loo_ms, {"variances": dict(zip(names, ts)), "noise": s2}


def _evidence(g: np.ndarray, r: np.ndarray, noise: np.ndarray) -> tuple[float, Any, Any]:
    """Gaussian log marginal likelihood of ``r`` under covariance ``g + diag(noise)`` (up to a constant),
    with the Cholesky factor and ``alpha = (g + diag(noise))^-1 r``; ``-inf`` where it is not positive definite."""
    try:
        chol = _cholesky(g + np.diag(noise))
    except np.linalg.LinAlgError:
        return -np.inf, None, None
    alpha = _cho_solve(chol, r)
    return float(-0.5 * r @ alpha - np.log(np.diag(chol)).sum()), chol, alpha


BLEND = ("loo", "off")
BLEND_STEP = 0.25  # grid of the blend weights: coarse, 20 samples cannot tell finer weights apart
BLEND_MARGIN = 1.0
BLEND_RESAMPLES = 200  # bootstrap resamples of the samples the blend's weights are averaged over
LOO_CLIP = 0.3  # relative leave-one-out errors are clipped here, so that one slow outlier does not decide
# the prior does not fit where the blend's rule leaves it *and* the blend errs at least MISMATCH_GAIN less than the
# prior alone: a blend of near-equal models beats each of them by up to a tenth just by averaging their errors,
# on a device the prior fits as well as anything (and where more samples buy nothing)
MISMATCH_GAIN = 0.15
# more samples are asked for (MetaPredictor.more_samples) while the blend's leave-one-out error is above
# MORE_SAMPLES_ERROR (half the +-10 % tolerance latency predictions are judged by), or above MISMATCH_ERROR
# where the prior does not fit (the models of the samples alone then improve with every sample); within a
# fifth of the tolerance more buy little
MORE_SAMPLES_ERROR = 0.05
MISMATCH_ERROR = 0.02


PRIOR_FREE: dict[str, type[LatencyPredictor]] = {"regressor": RegressorPredictor, "flops": FlopsPredictor,
                                                  "totals": TotalsPredictor}


def _prior_free(encoding: LatencyEncoding, items: list, y: np.ndarray) -> dict[str, LatencyPredictor]:
    """The per-device models fitted on the target's samples alone (:data:`PRIOR_FREE`)."""
    out = {}
    for name, cls in PRIOR_FREE.items():
        p = cls(encoding)
        p._fit(items, y)
        p.fitted = True
        out[name] = p
    return out


def choose_blend(y: np.ndarray, loo: dict[str, np.ndarray], step: float = BLEND_STEP,
                 margin: float | None = None, resamples: int = BLEND_RESAMPLES) -> dict[str, Any]:
    """Weights of the candidates (first: the prior-based one) by their leave-one-out predictions ``loo``.

    The rule, on a set of samples: every convex combination on a grid of ``step`` is scored by its mean
    relative leave-one-out error (clipped at ``LOO_CLIP``); the least wins if it beats the prior alone by
    more than ``margin`` (default :data:`BLEND_MARGIN`) standard errors of the paired per-sample
    difference, else the prior alone is kept. The weights are the mean of the rule's choices over
    ``resamples`` bootstrap resamples of the samples (0: the rule on the samples as drawn): 20 samples
    rarely make one combination clearly best, and a hard pick among near-equals flips with every sample
    where the average of the picks does not (a fixed seed, so a refit of the same samples gives the same
    weights). Returns ``{"weights", "loo_error" (per candidate alone), "blend_error", "prior_fits" (the rule
    on the samples as drawn keeps the prior, or the blend errs less than :data:`MISMATCH_GAIN` below it),
    "reason"}``.
    """
    margin = BLEND_MARGIN if margin is None else margin
    names = list(loo)
    preds = np.stack([loo[k] for k in names])
    steps = int(round(1 / step))
    grid = np.array(list(_simplex(len(names), steps)), dtype=np.float64) / steps  # row 0: the prior alone

    def clipped(p: np.ndarray) -> np.ndarray:
        return np.minimum(np.abs(p - y) / y, LOO_CLIP)

    errors = clipped(grid @ preds)  # (combinations, samples)
    mean_errors = errors.mean(1)

    def rule(idx: np.ndarray) -> int:
        # the blend must beat the prior by more than `margin` standard errors of the paired difference: with
        # 20 noisy samples the least leave-one-out error of many blends is partly luck
        best = int(np.argmin(errors[:, idx].mean(1)))
        diff = errors[0, idx] - errors[best, idx]
        return best if np.mean(diff) > margin * np.std(diff) / np.sqrt(len(idx)) else 0

    n = len(y)
    point = rule(np.arange(n))
    if resamples > 0:
        rng = np.random.default_rng(0)
        wts = np.mean([grid[rule(rng.integers(0, n, n))] for _ in range(resamples)], axis=0)
    else:
        wts = grid[point]
    alone = {k: float(e) for k, e in zip(names, clipped(preds).mean(1))}
    err = float(np.mean(clipped(wts @ preds)))
    prior = alone[names[0]]
    weights = {k: float(wts[i]) for i, k in enumerate(names) if wts[i] > 0}
    fits = point == 0 or err > (1 - MISMATCH_GAIN) * prior
    if not fits:
        reason = (f"the prior alone errs {100 * prior:.1f} % on the samples left out, the blend {100 * err:.1f} %: "
                  f"the prior does not fit this device " + ("fully" if names[0] in weights else "at all"))
    elif point != 0:
        reason = (f"the prior fits about as well as the blend: it errs {100 * prior:.1f} % on the samples left "
                  f"out, the blend {100 * err:.1f} %, less than {100 * MISMATCH_GAIN:.0f} % better")
    elif np.argmin(mean_errors) == 0:
        reason = f"the prior fits: its leave-one-out error is the least ({100 * prior:.1f} %)"
    else:
        best = 100 * float(mean_errors.min())
        reason = (f"the prior is kept: the best blend's leave-one-out error ({best:.1f} % against {100 * prior:.1f} "
                  f"%) is not better by more than {margin:g} standard errors")
    if point == 0 and weights != {names[0]: 1.0}:
        reason += f" (the prior's weight over resamples of the samples: {weights.get(names[0], 0.0):.2f})"
    return {"weights": weights, "loo_error": alone, "blend_error": err, "prior_fits": fits, "reason": reason}


def _simplex(k: int, total: int):
    """Every tuple of ``k`` non-negative integers summing to ``total``, the first coordinate largest first."""
    if k == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _simplex(k - 1, total - first):
            yield (first, *rest)


class MetaPredictor(LatencyPredictor):
    """Meta-learned prior over devices, adapted to the target's samples (see the module docstring).

    Options: ``weights`` (path of a meta model ``.npz``; default: the shipped ``meta/<space>.npz``, or
    the family's ``meta/<family>.npz``), ``model`` (a :class:`MetaModel` object, not saved by
    ``to_dict``), ``robust_iters``, ``nu``, ``evidence``, ``noise``, ``neighbours`` (see :func:`adapt`),
    ``blend`` (``loo``: blend with prior-free models where the samples say the prior does not fit; ``off``).
    In a space no shipped prior fits (other cost features; no ``weights`` given) it is the blend of the prior-free
    models alone, whatever ``blend`` says.
    """

    name = "meta"
    min_samples = 3

    @dataclass
    class Config(PredictorConfig):
        name: str = "meta"
        weights: Optional[str] = None  # meta model .npz (null: meta/<space>.npz, else meta/<family>.npz)
        robust_iters: int = ROBUST_ITERS
        nu: float = STUDENT_NU
        evidence: str = "both"  # hyperparameters by gaussian or student_t evidence, or both and leave-one-out
        noise: str = "relative"  # measurement noise: relative (scales with the latency) | absolute
        # sizes of the neighbourhood priors: the sources most like the target ([]: all sources only)
        neighbours: list[int] = field(default_factory=lambda: list(NEIGHBOURS))
        # loo: blend the prior-based head with prior-free per-device models (regressor, flops, totals) by their
        # leave-one-out errors on the samples, for a device the prior does not fit | off: the prior alone
        blend: str = "loo"

    def __init__(self, space, weights: str | None = None, model: MetaModel | None = None,
                 robust_iters: int = ROBUST_ITERS, nu: float = STUDENT_NU, evidence: str = "both",
                 noise: str = "relative", neighbours: Sequence[int] = NEIGHBOURS, blend: str = "loo",
                 **options: Any):
        # retired with the neighbourhood priors; profiles stored before store its default, 0, which did
        # nothing: they still load (their fitted head is kept, a refit uses the current adaptation)
        if options.get("nearest", 0) != 0:
            raise NasedgeError(f"option nearest: value {options['nearest']!r} is retired; "
                               "use neighbours (sizes of the neighbourhood priors)")
        options.pop("nearest", None)
        if evidence not in EVIDENCE:
            raise NasedgeError(f"option evidence: value {evidence!r} is not valid; "
                               f"expected {', '.join(EVIDENCE)}")
        if noise not in NOISE_MODELS:
            raise NasedgeError(f"option noise: value {noise!r} is not valid; "
                               f"expected {', '.join(NOISE_MODELS)}")
        if isinstance(neighbours, (str, bytes)) or not all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 2 for k in neighbours):
            raise NasedgeError(f"option neighbours: value {neighbours!r} is not valid; "
                               "expected a list of source counts >= 2")
        if blend not in BLEND:
            raise NasedgeError(f"option blend: value {blend!r} is not valid; expected {', '.join(BLEND)}")
        if not is_integer(robust_iters) or not 0 <= robust_iters <= 1000:
            raise NasedgeError(f"option robust_iters: value {robust_iters!r} is not valid; expected 0-1000 "
                               "(rounds of Student-t reweighting)")
        if not is_real(nu) or not 0 < nu < math.inf:
            raise NasedgeError(f"option nu: value {nu!r} is not valid; expected a number > 0 "
                               "(the Student-t noise's degrees of freedom)")
        robust_iters, nu = int(robust_iters), float(nu)  # numpy's too: stored in the profile's JSON
        neighbours = [int(k) for k in neighbours]
        opts = {"robust_iters": robust_iters, "nu": nu, "evidence": evidence, "noise": noise,
                "neighbours": neighbours, "blend": blend, **options}
        if weights is not None:
            opts["weights"] = str(weights)
        super().__init__(space, **opts)
        self.no_prior = ""  # why no meta-trained prior fits the space ("" where one does)
        if model is None and weights is None:
            model, self.no_prior = _shipped_prior(self.encoding)
        self.model = model if model is not None or self.no_prior else load_meta_model(weights, space)
        self.scale: Optional[np.ndarray] = None  # without a prior: the cost features' scale, from the samples
        self.robust_iters, self.nu, self.evidence = int(robust_iters), float(nu), evidence
        self.noise, self.neighbours, self.blend = noise, tuple(neighbours), blend

    def _basis(self, items: list) -> np.ndarray:
        if self.model is not None:
            return self.model.basis(self.encoding, items)
        return np.concatenate([self.encoding.onehot(items), self.encoding.features(items) / self.scale,
                               np.ones((len(items), 1))], axis=1)

    def _fit_without_prior(self, items: list, latency_ms: np.ndarray) -> None:
        """A space no shipped prior fits (another family, or other cost features): the blend of the models of the
        samples alone, ``flat`` first (the prior-based model's family without a source device)."""
        scale = self.encoding.features(items).std(0)
        self.scale = np.where(scale > 0, scale, 1.0)
        phi = self._basis(items)
        groups = variance_groups(phi.shape[1] - len(self.scale) - 1, self.encoding.feature_names)
        blend = self._blend(items, latency_ms, phi, groups, {})
        blend["prior_fits"] = False  # every sample more pins the models of the samples down
        blend["reason"] = (f"no meta-trained prior: {self.no_prior}; the models of the samples alone err "
                           f"{100 * blend['blend_error']:.1f} % on the samples left out")
        self.head, self.hyper = None, {"prior": "none", "blend": blend}

    def _blend(self, items: list, latency_ms: np.ndarray, phi: np.ndarray, groups: dict[str, np.ndarray],
               first: dict[str, np.ndarray]) -> dict[str, Any]:
        """Weigh the ``first`` candidates' leave-one-out predictions (the prior-based head's, or none) against the
        models of the samples alone (:func:`choose_blend`); keeps the weights and the models that got weight."""
        others = _prior_free(self.encoding, items, latency_ms)
        v = (latency_ms / np.mean(latency_ms)) ** 2
        flat_head, flat_loo, flat_hyper = flat_adapt(groups, phi, latency_ms, v)
        blend = choose_blend(latency_ms, {**first, "flat": flat_loo, **{k: p.loo_ms for k, p in others.items()}})
        self.weights = blend["weights"]
        self.others = {k: p for k, p in others.items() if k in self.weights}
        self.flat_head = None
        if "flat" in self.weights:
            self.flat_head, blend["flat"] = flat_head, flat_hyper
        return blend

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        if self.model is None:
            self._fit_without_prior(items, latency_ms)
            return
        phi = self.model.basis(self.encoding, items)
        self.head, self.hyper = adapt(self.model, phi, latency_ms, self.robust_iters, self.nu, self.evidence,
                                      self.noise, self.neighbours)
        loo_prior = self.hyper.pop("loo_ms")
        self.others: dict[str, LatencyPredictor] = {}
        self.weights = {"prior": 1.0}
        self.flat_head = None
        if self.blend == "loo":
            groups = variance_groups(self.model.onehot_width, self.model.feature_names)
            self.hyper["blend"] = self._blend(items, latency_ms, phi, groups, {"prior": loo_prior})

    def adaptation(self) -> str:
        """The blend's weights and its reason, e.g. ``prior 0.25, flat 0.75: the prior alone errs 2.4 % on the samples
        left out, the blend 1.7 %: ...`` (with ``blend: off``: the prior-based head alone)."""
        blend = self.hyper.get("blend")
        weights = ", ".join(f"{k} {w:.2f}" for k, w in self.weights.items() if w >= 0.005)  # as printed
        return f"{weights}: {blend['reason']}" if blend else "prior 1.00: the blend with prior-free models is off"

    def more_samples(self) -> str:
        """Why more samples would pay, from the blend's leave-one-out error on the samples: above
        :data:`MORE_SAMPLES_ERROR`, or above :data:`MISMATCH_ERROR` where the prior does not fit (the blend left
        it and errs :data:`MISMATCH_GAIN` less: the device is unlike the source devices, and the models of its
        own samples improve with every sample); empty
        otherwise, and with ``blend: off`` (experiments/latency_predictors/README.md, "Issue 20, fifth session")."""
        blend = self.hyper.get("blend")
        if blend is None:
            return ""
        err = blend["blend_error"]
        # states fitted before the resampled weights hold no prior_fits: their weights say it
        if not blend.get("prior_fits", self.weights == {"prior": 1.0}) and err > MISMATCH_ERROR:
            return blend["reason"]
        if err > MORE_SAMPLES_ERROR:
            return (f"its samples left out are predicted {100 * err:.1f} % off on average (more than "
                    f"{100 * MORE_SAMPLES_ERROR:.0f} %)")
        return ""

    def _predict(self, items: list) -> np.ndarray:
        pred = 0.0
        if "prior" in self.weights:
            pred = self.weights["prior"] * (self._basis(items) @ self.head)
        if self.flat_head is not None:
            pred = pred + self.weights["flat"] * (self._basis(items) @ self.flat_head)
        for k, p in self.others.items():
            pred = pred + self.weights[k] * p._predict(items)
        return pred

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = ({"model": None, "scale": self.scale.tolist()} if self.model is None else
                                 {"model": self.model.digest, "head": self.head.tolist()})
        state["hyper"] = self.hyper
        if self.model is None or self.blend == "loo":
            state["blend"] = {"weights": self.weights, **{k: p._state() for k, p in self.others.items()}}
            if self.flat_head is not None:
                state["blend"]["flat"] = self.flat_head.tolist()
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        mine = None if self.model is None else self.model.digest
        if state["model"] != mine:  # a prior shipped since, or one that no longer fits the space
            raise StaleMetaModel(f"the predictor was fitted with meta model {state['model'] or 'none'}, but the "
                                 f"one for this space now is {mine or 'none'}; refit it from its measurements")
        self.scale = np.asarray(state["scale"], dtype=np.float64) if state["model"] is None else None
        self.head = None if state["model"] is None else np.asarray(state["head"], dtype=np.float64)
        self.hyper = dict(state["hyper"])
        if "floor" in state:  # stored here before LatencyPredictor kept the floor of every predictor
            self.floor = float(state["floor"])
        # states stored before the blend (or with blend off) hold the prior-based head alone
        blend = state.get("blend", {"weights": {"prior": 1.0}})
        self.weights = {k: float(v) for k, v in blend["weights"].items()}
        self.others = {}
        self.flat_head = np.asarray(blend["flat"], dtype=np.float64) if "flat" in self.weights else None
        for k in self.weights:
            if k not in ("prior", "flat"):
                p = PRIOR_FREE[k](self.encoding)
                p._load_state(blend[k])
                p.fitted = True
                self.others[k] = p
