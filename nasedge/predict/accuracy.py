"""Accuracy predictors: top-1 of a subnet from its architecture, without evaluating it.

:class:`BaseAccuracyPredictor` is what search and specialize use (``space``, ``meta``, ``predict``);
:func:`load_accuracy_predictor` reads any stored one, choosing the implementation by the file's
``format``. Implementations: :class:`AccuracyPredictor` (below) and OFA's published MLP
(:mod:`nasedge.predict.ofa_accuracy`).

Gradient-boosted trees on the space's ordinal encoding (kernel and expand per slot, depth per
stage, resolution) plus log MACs and log parameters, fitted to subnets of a trained supernet whose
accuracy was measured with ``nasedge eval --arch random:N --out FILE.jsonl``. On the shipped CIFAR-10
supernet this beat an MLP ensemble on one-hot features (held-out RMSE 0.35 vs 0.90 points; see
experiments/cifar10_ofa/README.md). Search queries it thousands of times per second.

The saved file is JSON: the training set and hyperparameters. Loading refits (about a second,
deterministic), so predictors never depend on a pickled model of one scikit-learn version.
"""

from __future__ import annotations

import abc
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.cost import arch_cost
from nasedge.errors import NasedgeError, is_real
from nasedge.jsonlines import read_json_lines
from nasedge.spaces import SearchSpace, get_space, installed_shape

FORMAT = "nasedge-accuracy-predictor/2"
DEFAULTS = {"max_iter": 600, "learning_rate": 0.05, "max_leaf_nodes": 15, "l2_regularization": 1.0, "ensemble": 3}


def _one_openmp_thread():
    # scikit-learn's gradient boosting runs OpenMP threads; on a loaded 2-core machine their spin-waiting
    # made loading (refitting) this predictor take 680 s instead of 6.7 s with one thread.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def features(space: SearchSpace, archs: Sequence[Arch]) -> np.ndarray:
    """Ordinal encoding plus log MACs and log parameter count."""
    costs = [arch_cost(a, space) for a in archs]
    extra = np.array([[np.log(c.macs), np.log(c.params)] for c in costs], dtype=np.float32).reshape(len(archs), 2)
    return np.concatenate([space.encode(archs, "ordinal"), extra], axis=1)


class BaseAccuracyPredictor(abc.ABC):
    """Predicts top-1 (percent) of archs of one space."""

    space: SearchSpace
    meta: dict

    @abc.abstractmethod
    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Top-1 in percent, one per arch."""


# stored format -> "module:class" of its implementation (imported when a file of that format is loaded)
ACCURACY_PREDICTORS = {
    FORMAT: "nasedge.predict.accuracy:AccuracyPredictor",
    "nasedge-accuracy-predictor/ofa-mlp/1": "nasedge.predict.ofa_accuracy:OFAAccuracyPredictor",
}


def load_accuracy_predictor(path: str | Path) -> BaseAccuracyPredictor:
    """The accuracy predictor stored in ``path``: JSON with a ``format`` in :data:`ACCURACY_PREDICTORS`, or
    OFA's own ``acc_predictor.pth`` (a PyTorch file; for its w1.2 supernet)."""
    import importlib

    if _is_torch_file(path):  # OFA's own file; by name, as every format here (its module imports this one)
        module, name = ACCURACY_PREDICTORS["nasedge-accuracy-predictor/ofa-mlp/1"].split(":")
        return getattr(importlib.import_module(module), name).from_ofa_file(path)
    state = _read_json(path)
    module, name = _implementation(state, path).split(":")
    return getattr(importlib.import_module(module), name).from_state(state, str(path))


def check_accuracy_predictor_file(path: str | Path) -> str | None:
    """What :func:`load_accuracy_predictor` checks of the file before it builds anything (readable, JSON of a
    known format, or OFA's PyTorch file): a command's inputs are checked before its work (seconds) starts.
    Returns the name of the space the file says it predicts for (``None`` where it names none)."""
    import importlib

    if _is_torch_file(path):  # OFA's own file: for the supernet its implementation reads it for
        module = ACCURACY_PREDICTORS["nasedge-accuracy-predictor/ofa-mlp/1"].split(":")[0]
        return importlib.import_module(module).DEFAULT_SPACE
    state = _read_json(path)
    _implementation(state, path)
    space = state.get("space")
    return space if isinstance(space, str) else None


def _is_torch_file(path: str | Path) -> bool:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(2) in (b"PK", b"\x80\x02")  # torch.save's zip or legacy pickle
    return False


def _implementation(state: object, path: str | Path) -> str:
    target = ACCURACY_PREDICTORS.get(state.get("format")) if isinstance(state, dict) else None
    if target is None:
        raise NasedgeError(f"{path}: not a nasedge accuracy predictor (expected format "
                           f"{' or '.join(ACCURACY_PREDICTORS)})")
    return target


def _read_json(path: str | Path) -> object:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NasedgeError(f"{path}: accuracy predictor not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: not a readable accuracy predictor (invalid JSON)") from None


class AccuracyPredictor(BaseAccuracyPredictor):
    """Gradient-boosted trees fitted to measured (arch, top-1) pairs of one space."""

    def __init__(self, space: SearchSpace, **params):
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown accuracy-predictor option {sorted(unknown)[0]!r}")
        self.space, self.params = space, {**DEFAULTS, **params}
        self.models: list = []
        self.archs: list[Arch] = []
        self.top1 = np.zeros(0)
        self.meta: dict = {}

    def fit(self, archs: Sequence[Arch], top1: Sequence[float]) -> AccuracyPredictor:
        from sklearn.ensemble import HistGradientBoostingRegressor

        if len(archs) != len(top1) or len(archs) < 10:
            raise NasedgeError(f"accuracy predictor needs at least 10 (arch, top-1) pairs, got {len(archs)}")
        self.archs = [self.space.validate(a) for a in archs]
        self.top1 = np.asarray(top1, dtype=np.float64)
        x = features(self.space, self.archs)
        kw = {k: v for k, v in self.params.items() if k != "ensemble"}
        # scikit-learn's 20 samples per leaf leave fewer than 40 samples without a single split (a constant
        # prediction); from 200 samples on this is that default, so larger fits are unchanged
        kw["min_samples_leaf"] = min(20, max(2, len(archs) // 10))
        with _one_openmp_thread():
            self.models = [HistGradientBoostingRegressor(**kw, early_stopping=False, random_state=seed).fit(x, self.top1)
                           for seed in range(self.params["ensemble"])]
        return self

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if not self.models:
            raise RuntimeError("AccuracyPredictor.predict called before fit")
        if len(archs) == 0:
            return np.zeros(0)
        x = features(self.space, archs)
        with _one_openmp_thread():
            return np.mean([m.predict(x) for m in self.models], axis=0)

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        atomic_write_text(path, json.dumps({
            "format": FORMAT, "space": self.space.name, "params": self.params, "meta": meta or self.meta,
            "data": [{"arch": a.to_dict(), "top1": float(t)} for a, t in zip(self.archs, self.top1)],
        }))

    @classmethod
    def load(cls, path: str | Path) -> AccuracyPredictor:
        state = _read_json(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise NasedgeError(f"{path}: not a nasedge accuracy predictor (expected format {FORMAT})")
        return cls.from_state(state, str(path))

    @classmethod
    def from_state(cls, state: dict, source: str) -> AccuracyPredictor:
        """From the JSON object :meth:`save` writes (refits on its data); a field that is not what :meth:`save`
        writes is one line naming it."""
        for key, kind, expected in (("space", str, "a search-space name"), ("params", dict, "an object of options"),
                                    ("data", list, "a list of {arch, top1} objects")):
            if not isinstance(state.get(key), kind):
                raise NasedgeError(f"{source}: field {key!r}: value {state.get(key)!r:.80} is not valid; "
                                   f"expected {expected}")
        for i, r in enumerate(state["data"]):
            _check_top1(r.get("top1") if isinstance(r, dict) else None, f"{source}: field 'data[{i}].top1'")
        try:
            pred = cls(get_space(state["space"]), **state["params"])
            pred.meta = state.get("meta", {})
            archs = [Arch.from_dict(r["arch"], f"{source}: data[{i}]", pred.space.shape_of)
                     for i, r in enumerate(state["data"])]
            return pred.fit(archs, [r["top1"] for r in state["data"]])
        except NasedgeError as exc:
            raise NasedgeError(exc if str(exc).startswith(source) else f"{source}: {exc}") from None
        except (ValueError, TypeError) as exc:  # an option the regressor refuses (scikit-learn's own check)
            raise NasedgeError(f"{source}: field 'params': {exc}") from None


def _check_top1(value: Any, where: str) -> None:
    """A top-1 accuracy in percent, or one line naming ``where`` (the file and field)."""
    if not is_real(value) or not 0 <= value <= 100:
        raise NasedgeError(f"{where}: value {value!r} is not valid; expected a top-1 accuracy in percent, 0-100")


def load_accuracy_dataset(path: str | Path) -> tuple[list[Arch], np.ndarray]:
    """Read the JSON lines written by ``nasedge eval --out`` (fields ``arch`` and ``top1``; ``context``, where
    there, must be one: samples of one supernet on one data). An arch twice is refused: it could sit in both the
    fitted and the held-out share."""
    archs, top1 = [], []
    seen: dict[Arch, str] = {}
    context, context_at = None, ""
    for where, row in read_json_lines(path, unreadable="not a JSON-lines file of accuracy samples"):
        if not isinstance(row, dict):
            raise NasedgeError(f"{where}: not an accuracy record; expected an object with fields 'arch' and 'top1'")
        for key in ("arch", "top1"):
            if key not in row:
                raise NasedgeError(f"{where}: field {key!r}: missing; expected fields 'arch' and 'top1'")
        value = row["top1"]
        _check_top1(value, f"{where}: field 'top1'")
        if not isinstance(row["arch"], dict):
            raise NasedgeError(f"{where}: field 'arch': value {row['arch']!r} is not valid; expected an arch object")
        arch = Arch.from_dict(row["arch"], where, installed_shape)
        arch = get_space(arch.space).validate(arch, source=where)  # installed_shape found the space
        if arch in seen:
            raise NasedgeError(f"{where}: the arch of {seen[arch]} again; keep one sample per arch")
        seen[arch] = where
        if row.get("context") is not None:
            if context is not None and row["context"] != context:
                raise NasedgeError(f"{where}: a sample of another supernet or data than {context_at}'s; fit one "
                                   f"supernet's samples on one data at a time")
            context, context_at = row["context"], context_at or where
        archs.append(arch)
        top1.append(float(value))
    return archs, np.asarray(top1)


MIN_RANKED = 5  # held-out samples a split needs for its Spearman rho to be reported


def held_out_scores(space: SearchSpace, archs: Sequence[Arch], top1: np.ndarray, splits: int = 3,
                    held_out: float = 0.2) -> list[dict]:
    """How well the predictor fitted on the rest predicts a random ``held_out`` share of the samples, per split
    (seeded 0, 1, ...): RMSE in points and Spearman rho (None with fewer than :data:`MIN_RANKED` held out: the rank
    correlation of 2-4 samples is mostly chance, e.g. +-1 of two)."""
    from nasedge.predict.metrics import spearman

    n_test = max(1, int(len(archs) * held_out))
    if len(archs) - n_test < 10 or n_test < 2:
        raise NasedgeError(f"{len(archs)} samples are too few: a held-out share of {held_out:g} holds out {n_test} and "
                           f"fits on {len(archs) - n_test}; a split needs at least 2 held out and 10 to fit on")
    top1 = np.asarray(top1, dtype=np.float64)
    results = []
    for split in range(splits):
        idx = np.random.default_rng(split).permutation(len(archs))
        test, train = idx[:n_test], idx[n_test:]
        pred = AccuracyPredictor(space).fit([archs[i] for i in train], top1[train])
        y = pred.predict([archs[i] for i in test])
        results.append({"split": split, "fit_on": len(train), "held_out": len(test),
                        "rmse": float(np.sqrt(np.mean((y - top1[test]) ** 2))),
                        "spearman": float(spearman(y, top1[test])) if len(test) >= MIN_RANKED else None})
    return results
