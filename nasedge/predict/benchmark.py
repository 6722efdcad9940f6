"""Few-shot evaluation of latency predictors on latency datasets: the HELP protocol and ours.

``help`` reproduces the protocol of HELP's scripts: the meta-model may use the first ``pool`` archs
(900 on NAS-Bench-201, 4000 on FBNet and OFA) of its meta-train devices; the target contributes the
latencies of the 10 reference archs plus ``shots`` archs drawn from its own first ``pool`` archs
after dropping the 10 % fastest and slowest; the query set is archs ``pool .. pool+1000`` with the
same 10 % trimmed at both ends.

``untrimmed`` is stricter and closer to use: ``shots`` counts *every* measurement taken on the
target, reference archs included (20 = 10 reference + 10 random), and every other arch measured on
the target is predicted, nothing trimmed. To keep the source models from having seen the query
archs, the archs are split into ``folds`` by a hash of their identity; the archs of one fold are
predicted by a meta-model trained without them (on every other device), with the target's samples
drawn outside the fold. Sources are all devices but the target.

Predictors: every registered one; ``nearest``, the baseline of picking the source device whose
latencies correlate best with the target's samples and rescaling its measured latencies linearly;
and ``oracle``, not a few-shot method but a reference: the meta predictor's model family fitted on
*every* measurement of the target that the task's meta-model may use (thousands instead of 20),
which shows how much of the remaining error is measurement noise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasedge.errors import NasedgeError
from nasedge.predict.base import latency_floor
from nasedge.predict.calibration import fit_linear
from nasedge.predict.dataset import LatencyDataset
from nasedge.predict.metrics import quality
from nasedge.predict.profile import REFERENCE_ARCHS

PROTOCOLS = ("help", "untrimmed")
BASELINES = ("nearest", "oracle")

# HELP's device splits (its scripts), per space
HELP_SPLITS: dict[str, dict[str, Any]] = {
    "nasbench201": {
        "pool": 900,
        "train": ("1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50", "pixel3",
                  "essential_ph_1", "samsung_s7"),
        "valid": ("titanx_1", "titanx_32", "titanx_256", "gold_6240"),
        "test": ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"),
    },
    "fbnet": {
        "pool": 4000,
        "train": ("1080ti_1", "1080ti_32", "1080ti_64", "silver_4114", "silver_4210r", "samsung_a50", "pixel3",
                  "essential_ph_1", "samsung_s7"),
        "valid": ("titanx_1", "titanx_32", "titanx_64", "gold_6240"),
        "test": ("fpga", "raspi4", "eyeriss"),
    },
    "ofa_mbv3_w1.2": {
        "pool": 4000,
        "train": ("2080ti_1", "2080ti_32", "2080ti_64", "titan_xp_1", "titan_xp_32", "titan_xp_64", "v100_1",
                  "v100_32", "v100_64"),
        "valid": ("titan_rtx_1", "titan_rtx_32"),
        "test": ("titan_rtx_64",),
    },
}
QUERY = 1000


@dataclass(frozen=True, eq=False)
class Task:
    """One few-shot problem: measure ``measured`` on ``target``, predict ``query``."""

    target: str
    measured: np.ndarray  # row indices
    query: np.ndarray
    sources: tuple[str, ...]  # devices a meta-model may learn from
    train_rows: np.ndarray  # archs a meta-model may learn from
    seed: int
    fold: int = 0
    more: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # rows the predictor may ask for after ``measured``, in order


def _trim(latency: np.ndarray, rows: np.ndarray) -> np.ndarray:
    order = rows[np.argsort(latency[rows], kind="stable")]
    return order[int(len(order) * 0.1): int(len(order) * 0.9)]


def help_tasks(ds: LatencyDataset, target: str, shots: int = 10, seeds: int = 5) -> list[Task]:
    split = HELP_SPLITS.get(ds.encoding.name)
    if split is None:
        raise NasedgeError(f"protocol 'help' is defined for {', '.join(HELP_SPLITS)}, not {ds.encoding.name!r}")
    if target in split["train"]:
        targets = ", ".join(split["valid"] + split["test"])
        raise NasedgeError(f"device {target!r} is a meta-train device of HELP's protocol; "
                           f"targets: {targets} (or use --protocol untrimmed)")
    missing = [d for d in (*split["train"], target) if d not in ds.devices]
    if missing:
        raise NasedgeError(f"device {missing[0]!r} of HELP's protocol is not in the dataset")
    y = ds.column(target)
    ids, pool = ds.arch_ids, split["pool"]
    train = np.flatnonzero((ids < pool) & np.isfinite(y))
    query = _trim(y, np.flatnonzero((ids >= pool) & (ids < pool + QUERY) & np.isfinite(y)))
    ref = np.array(ds.reference[:REFERENCE_ARCHS], dtype=np.int64)  # two datasets' files: the first's
    if len(ref) == 0 or not np.all(np.isfinite(y[ref])):
        raise NasedgeError(f"protocol 'help' needs the reference archs measured on {target!r}")
    if len(query) == 0:
        raise NasedgeError(f"device {target!r} measured none of the query archs of protocol 'help' (arch ids "
                           f"{pool}-{pool + QUERY - 1}); use --protocol untrimmed")
    candidates = _trim(y, train)
    if len(candidates) < shots:  # fewer samples than asked would be reported as if they were the protocol's
        raise NasedgeError(f"shots {shots}: device {target!r} has {len(candidates)} archs to draw samples from")
    tasks = []
    for seed in range(seeds):
        support = np.random.default_rng(seed).permutation(candidates)[:shots]
        tasks.append(Task(target, np.concatenate([ref, support]), query, tuple(split["train"]),
                          np.flatnonzero(ids < pool), seed))
    return tasks


def arch_folds(ds: LatencyDataset, folds: int) -> np.ndarray:
    """Fold of every arch, from a hash of its identity (stable across datasets and runs)."""
    return np.array([int(hashlib.sha256(ds.encoding.key(x).encode()).hexdigest()[:8], 16) % folds
                     for x in ds.items], dtype=np.int64)


ACTIVE_POOL = 500  # random candidates (per seed and fold) an active choice picks the target's samples from
# (nasedge.predict.active.POOL, the number `nasedge predictor archs --active` picks from)


def untrimmed_tasks(ds: LatencyDataset, target: str, shots: int = 20, seeds: int = 5, folds: int = 5,
                    sources: Sequence[str] | None = None, active: bool = False,
                    max_shots: int | None = None) -> list[Task]:
    """``max_shots``: the target's samples are drawn up to this many; the first ``shots`` are measured, the
    rest (``Task.more``) is there for a predictor that asks for more (the same first ``shots`` either way)."""
    draw = max(shots, max_shots or shots)
    y = ds.column(target)
    measured_rows = np.flatnonzero(np.isfinite(y))
    # the first REFERENCE_ARCHS measured on the target (datasets joined may bring a file each), then random archs
    ref = np.array([r for r in ds.reference if np.isfinite(y[r])][:REFERENCE_ARCHS], dtype=np.int64)
    n_ref = min(len(ref), shots)
    fold_of = arch_folds(ds, folds)
    sources = tuple(sources) if sources is not None else tuple(d for d in ds.devices if d != target)
    tasks = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for f in range(folds):
            inside = measured_rows[fold_of[measured_rows] == f]
            outside = np.setdiff1d(measured_rows[fold_of[measured_rows] != f], ref[:n_ref])
            if active:  # an active choice among ACTIVE_POOL random candidates (nasedge.predict.active)
                from nasedge.predict.active import select_archs

                pool = rng.permutation(outside)[:ACTIVE_POOL]
                picks = select_archs(ds.encoding, [ds.items[i] for i in ref[:n_ref]], [ds.items[i] for i in pool],
                                     draw - n_ref)  # greedy: the first picks are those of a smaller draw
                support = pool[picks]
            else:
                support = rng.permutation(outside)[: draw - n_ref]
            if len(support) < draw - n_ref:
                asked = f"{'max_shots' if draw > shots else 'shots'} {draw}"
                raise NasedgeError(f"{asked}: device {target!r} has {n_ref + len(outside)} measured archs outside "
                                   f"fold {f} of {folds} to draw samples from (fewer shots, or more folds, "
                                   f"would leave enough)")
            measured = np.concatenate([ref[:n_ref], support])
            query = np.setdiff1d(inside, ref)
            if len(query) == 0:
                continue
            tasks.append(Task(target, measured[:shots], query, sources, np.flatnonzero(fold_of != f), seed, f,
                              measured[shots:]))
    if not tasks:
        raise NasedgeError(f"device {target!r}: no fold of {folds} leaves archs to predict; use fewer folds")
    return tasks


def nearest_device(ds: LatencyDataset, task: Task) -> np.ndarray:
    """The nearest-device baseline: the source best correlated with the target on its samples (log latency),
    rescaled; a query arch that source did not measure comes from the next best one that did."""
    y = ds.column(task.target)
    name = f"baseline 'nearest' on {task.target!r}"
    if len(task.measured) < 2:
        raise NasedgeError(f"{name}: needs at least 2 samples on the target to correlate sources with "
                           f"(got {len(task.measured)})")
    ranked = []
    for dev in task.sources:
        s = ds.column(dev)
        if not np.all(np.isfinite(s[task.measured])) or np.ptp(s[task.measured]) == 0:
            continue  # a correlation needs the samples measured, and not all equal
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.corrcoef(np.log(s[task.measured]), np.log(y[task.measured]))[0, 1]
        if np.isfinite(r):  # NaN (the target's samples all equal) would compare as neither better nor worse
            ranked.append((r, dev, s))
    if not ranked:
        why = ("the target's samples are all equal" if np.ptp(y[task.measured]) == 0 else
               "no source device measured every one of the target's samples (with latencies not all equal)")
        raise NasedgeError(f"{name}: no source to correlate with: {why}")
    pred = np.full(len(task.query), np.nan)
    for _, _, s in sorted(ranked, key=lambda r: -r[0]):  # sorted() keeps the sources' order among equals
        todo = np.isnan(pred) & np.isfinite(s[task.query])
        if todo.any():
            a, b = fit_linear(s[task.measured], y[task.measured])
            pred[todo] = a * s[task.query][todo] + b
    if np.isnan(pred).any():
        raise NasedgeError(f"{name}: no source device that measured the target's samples measured query arch "
                           f"{int(ds.arch_ids[task.query[np.isnan(pred)][0]])}")
    # an intercept pulled down by an outlier sample reaches zero and below, as the registered predictors' fits do
    return np.maximum(pred, latency_floor(y[task.measured]))


def _oracle_rows(ds: LatencyDataset, task: Task) -> np.ndarray:
    """The target's rows the oracle is fitted on: every one measured that the task's meta-model may learn from."""
    y = ds.column(task.target)
    return task.train_rows[np.isfinite(y[task.train_rows])]


def oracle(ds: LatencyDataset, task: Task, robust_iters: int = 10, nu: float = 1.0) -> np.ndarray:
    """The noise ceiling: a robust linear head on the meta basis fitted on all the target's allowed rows, its
    predictions no lower than :func:`~nasedge.predict.base.latency_floor` of them. The robust weights are of relative
    residuals, which stay near 1 for a latency far above the rest: a few such outliers still pull the head, and
    archs unlike them to zero or below (:func:`evaluate` counts those it raised, ``floored``)."""
    from nasedge.predict.meta import RIDGE, meta_train

    y = ds.column(task.target)
    rows = _oracle_rows(ds, task)
    model = meta_train(ds.encoding, [ds.items[i] for i in rows], y[rows, None], (task.target,))
    phi = model.basis(ds.encoding, [ds.items[i] for i in rows])
    w = np.ones(len(rows))
    for _ in range(robust_iters + 1):
        a = phi * w[:, None]
        head = np.linalg.solve(phi.T @ a + RIDGE * np.eye(phi.shape[1]), a.T @ y[rows])
        r = (y[rows] - phi @ head) / y[rows]
        s2 = np.median(r**2) + 1e-12
        w = (nu + 1.0) / (nu + r**2 / s2)
    return np.maximum(model.basis(ds.encoding, [ds.items[i] for i in task.query]) @ head, latency_floor(y[rows]))


def run_task(ds: LatencyDataset, task: Task, predictor: str, options: dict[str, Any] | None = None,
             meta_models: dict | None = None) -> tuple[np.ndarray, int]:
    """Predictions for ``task.query`` by ``predictor`` (a registered name or ``nearest``), and how many of the
    target's samples it used: ``task.measured``, and of ``task.more`` as many as it asked for
    (:func:`nasedge.predict.profile.fit_with_more`)."""
    from nasedge.predict.profile import fit_with_more

    if predictor == "nearest":
        return nearest_device(ds, task), len(task.measured)
    if predictor == "oracle":
        from nasedge.predict.base import single_blas_thread

        with single_blas_thread():
            return oracle(ds, task), len(task.measured)
    options = dict(options or {})
    if predictor == "meta" and "model" not in options:
        if "weights" in options:  # a stored prior: never with the target's own heads in it
            from nasedge.predict.meta import load_meta_model

            options["model"] = load_meta_model(options.pop("weights")).without((task.target,))
        else:
            options["model"] = _meta_model(ds, task, meta_models if meta_models is not None else {})
    y = ds.column(task.target)
    rows = np.concatenate([task.measured, task.more])
    p, used = fit_with_more(predictor, ds.encoding, len(task.measured), len(rows),
                            lambda n: ([ds.items[i] for i in rows[:n]], y[rows[:n]]), **options)
    return p.predict([ds.items[i] for i in task.query]), used


def _meta_model(ds: LatencyDataset, task: Task, cache: dict):
    from nasedge.predict.meta import meta_train

    key = (task.sources, task.train_rows.tobytes())
    if key not in cache:
        idx = [ds.device_index(d) for d in task.sources]
        rows = task.train_rows
        lat = ds.latency[np.ix_(rows, idx)]
        keep = np.isfinite(lat).any(axis=1)
        cache[key] = meta_train(ds.encoding, [ds.items[i] for i in rows[keep]], lat[keep], task.sources,
                                info={"rows": int(keep.sum())})
    return cache[key]


def _check_sources(ds: LatencyDataset, target: str, sources: Sequence[str], predictor: str) -> None:
    """A predictor that learns from source devices has some, and none is the target under another name (its
    answers would reach the prior and 'nearest')."""
    if not sources:
        raise NasedgeError(f"{predictor!r} on {target!r} needs at least one device besides the target to learn from "
                           f"(flops, regressor and totals need none)")
    y = ds.column(target)
    for dev in sources:
        s = ds.column(dev)
        both = np.isfinite(s) & np.isfinite(y)
        if both.sum() >= 10 and np.array_equal(s[both], y[both]):
            raise NasedgeError(f"source device {dev!r} has the target {target!r}'s very latencies on all "
                               f"{int(both.sum())} archs both measured: the same measurements under another name; "
                               f"leave it out (--sources)")


def _check_scorable(target: str, query: np.ndarray) -> None:
    """Spearman and relative errors mean something only over a few archs of differing latency."""
    if len(query) < 3:
        raise NasedgeError(f"device {target!r}: {len(query)} query arch{'s' * (len(query) != 1)} to predict; "
                           f"Spearman needs at least 3 (measure more archs on it)")
    if np.ptp(query) == 0:
        raise NasedgeError(f"device {target!r}: every query arch has the same latency ({query[0]:g} ms); there is "
                           f"no order to predict (Spearman undefined)")


def evaluate(ds: LatencyDataset, target: str, predictor: str = "meta", protocol: str = "help", shots: int = 10,
             seeds: int = 5, folds: int = 5, options: dict[str, Any] | None = None,
             progress: Callable[[int, int], None] | None = None, meta_models: dict | None = None,
             sources: Sequence[str] | None = None, active: bool = False,
             max_shots: int | None = None) -> dict[str, Any]:
    """Mean Spearman rho, MAPE (%) and share within +-10 % over seeds, with the per-seed figures.

    ``sources`` (untrimmed only) restricts the devices a meta-model learns from (default: all others).
    ``active`` (untrimmed only): the samples after the reference archs are chosen by
    :func:`nasedge.predict.active.select_archs` among random candidates instead of drawn at random.
    ``max_shots`` (untrimmed only): a predictor that asks for more samples after ``shots`` gets them, 10 at a
    time up to this many, as a profile does (``samples`` in the result: the mean number used).
    """
    if protocol not in PROTOCOLS:
        raise NasedgeError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    ds.device_index(target)
    if sources is not None and protocol == "help":
        raise NasedgeError("protocol 'help' fixes its own source devices")
    if isinstance(sources, (str, bytes)):  # tuple() would make each letter a device
        raise NasedgeError(f"sources: {sources!r} is not valid; expected a list of device names")
    for dev in sources or ():
        if dev not in ds.devices:
            raise NasedgeError(f"source device {dev!r} is not in the dataset; known: {', '.join(ds.devices)}")
        if dev == target:  # its heads, fitted on every measurement of the target, would leak the answers
            raise NasedgeError(f"source device {dev!r} is the target; the sources are the other devices")
    if active and protocol == "help":
        raise NasedgeError("protocol 'help' draws its samples at random; active choice is for 'untrimmed'")
    if max_shots is not None and protocol == "help":
        raise NasedgeError("protocol 'help' draws a fixed number of samples; more on request (max_shots) is for "
                           "'untrimmed'")
    if max_shots is not None and max_shots < shots:
        raise NasedgeError(f"max_shots {max_shots}: expected at least shots ({shots})")
    tasks = help_tasks(ds, target, shots, seeds) if protocol == "help" else untrimmed_tasks(
        ds, target, shots, seeds, folds, sources, active, max_shots)
    y = ds.column(target)
    _check_scorable(target, y[np.concatenate([t.query for t in tasks if t.seed == tasks[0].seed])])
    learns_from_sources = predictor == "nearest" or (predictor == "meta" and not {"model", "weights"} & set(options or {}))
    if learns_from_sources:
        _check_sources(ds, target, tasks[0].sources, predictor)
    per_seed: dict[int, tuple[list, list]] = {}
    used = []
    floored = 0  # oracle: query predictions of the first seed raised to the floor
    fitted_on: list[int] = []  # oracle: the target's rows each task's fit had
    meta_models = meta_models if meta_models is not None else {}
    for i, task in enumerate(tasks):
        pred, n = run_task(ds, task, predictor, options, meta_models)
        used.append(n)
        if predictor == "oracle":
            rows = _oracle_rows(ds, task)
            fitted_on.append(len(rows))
            if task.seed == tasks[0].seed:
                floored += int(np.sum(pred <= latency_floor(y[rows])))
        preds, trues = per_seed.setdefault(task.seed, ([], []))
        preds.append(pred)
        trues.append(y[task.query])
        if progress:
            progress(i + 1, len(tasks))
    seeds_q = [quality(np.concatenate(p), np.concatenate(t)) for p, t in per_seed.values()]
    out: dict[str, Any] = {k: float(np.mean([q[k] for q in seeds_q]))
                           for k in ("spearman", "mape", "within_10pct")}
    out.update({
        "spearman_std": float(np.std([q["spearman"] for q in seeds_q])),
        "protocol": protocol, "space": ds.encoding.name, "target_device": target, "predictor": predictor,
        "shots": shots, "seeds": seeds, "measured_on_target": int(len(tasks[0].measured)),
        "samples": float(np.mean(used)),
        "query_archs": int(sum(len(t.query) for t in tasks if t.seed == tasks[0].seed)),
        "per_seed": seeds_q,
    })
    if predictor == "oracle":  # how much it was fitted on: with few archs it is no ceiling of the noise
        out["fitted_on"] = min(fitted_on)
        out["floored"] = floored  # any: its model does not hold on the target's latencies (outliers?)
    if protocol == "untrimmed":
        out["folds"] = folds
        if active:
            out["active"] = True
        if max_shots is not None:
            out["max_shots"] = max_shots
    return out
