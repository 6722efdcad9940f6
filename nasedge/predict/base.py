"""The abstract latency predictor: fitted on a device's measurements, predicts milliseconds.

A predictor is bound to one encoding (the space of the archs it predicts, see
:mod:`nasedge.predict.encodings`). ``fit`` takes the few measurements of a target device; ``predict``
returns milliseconds; ``to_dict``/``from_dict`` round-trip the fitted state through JSON.
"""

from __future__ import annotations

import abc
import functools
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError, returned
from nasedge.predict.encodings import LatencyEncoding, get_encoding
from nasedge.spaces import SearchSpace

try:
    from typing import Self
except ImportError:  # Python 3.10 (typing_extensions comes with torch)
    from typing_extensions import Self


def single_blas_thread():
    """Context manager limiting BLAS to one thread: predictors work on small matrices, where threads only
    contend (on a loaded 2-core machine a 181x181 solve took 250 ms with 2 OpenBLAS threads, 1 ms with one)."""
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    # finding the loaded BLAS libraries costs ~1 ms, more than a small prediction: do it once. The controller
    # limits only the libraries loaded when it looks: numpy's OpenBLAS is, but scipy ships its own, loaded with
    # scipy.linalg (meta's solves), so load it first (left out, a 150-sample service fit ran 10x slower)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# a latency outside this is a unit mistake (seconds as nanoseconds) or an overflow, not a timing; beyond it the
# fits' arithmetic overflows or underflows and a profile would predict NaN
LATENCY_RANGE_MS = (1e-6, 1e7)

FLOOR_SHARE = 0.25  # no prediction falls under this share of the fastest sample the predictor was fitted on


def latency_floor(latency_ms: Sequence[float]) -> float:
    """The least latency a predictor fitted on ``latency_ms`` predicts: a linear model extrapolated to archs far
    smaller than any sample (or pulled by one slow outlier) can reach zero or below, which a latency budget would
    read as free."""
    return FLOOR_SHARE * float(np.min(latency_ms))


class StaleState(NasedgeError):
    """A stored fitted state that the predictor as it is now cannot take (fitted with another meta model, or with
    another layout of its columns): refit the predictor from the measurements it was fitted on."""


@dataclass
class PredictorConfig:
    """Settings of every predictor (Hydra group ``predictor``); subclasses add the predictor's options."""

    name: str = ""
    # where `nasedge predictor fit` stores device profiles (null: latency_predictors/profiles)
    profiles_dir: Optional[str] = None
    # cross-validation folds for a profile's quality figures (leave-one-out up to this many samples)
    cv_folds: int = 20


_SHARED_OPTIONS = {f.name for f in dataclasses.fields(PredictorConfig)}


class LatencyPredictor(abc.ABC):
    """Predicts the latency of archs on one device.

    Subclasses set :attr:`name` (the registry key), implement :meth:`_fit`, :meth:`_predict`,
    :meth:`_state` and :meth:`_load_state`, and take their options as keyword arguments of
    ``__init__`` (stored in :attr:`options`, so that ``to_dict`` can rebuild them).
    """

    name: ClassVar[str]
    min_samples: ClassVar[int] = 2
    Config: ClassVar[type[PredictorConfig]] = PredictorConfig

    @classmethod
    def option_names(cls) -> list[str]:
        """The predictor's own options: its config's fields beyond those every predictor has."""
        return [f.name for f in dataclasses.fields(cls.Config) if f.name not in _SHARED_OPTIONS]

    @classmethod
    def options_from_config(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The predictor's own options out of a composed ``predictor`` config."""
        return {k: cfg[k] for k in cls.option_names() if k in cfg and cfg[k] is not None}

    def __init__(self, space: SearchSpace | LatencyEncoding | str, **options: Any):
        # an option the predictor does not know (a typo, or one a newer or older version had) would
        # otherwise be stored and ignored
        own = self.option_names()
        unknown = sorted(set(options) - set(own))
        if unknown:
            raise NasedgeError(f"predictor {self.name!r}: unknown option {unknown[0]!r}; "
                               f"known: {', '.join(sorted(own)) or 'none'}")
        self.encoding = get_encoding(space)
        self.options = options
        self.fitted = False
        self.floor = 0.0

    # --- public API ----------------------------------------------------------------------------
    def fit(self, archs: Sequence[Arch], latency_ms: Sequence[float]) -> Self:
        """Fit on measurements of the target device (``archs[i]`` ran in ``latency_ms[i]`` ms)."""
        items = [self.encoding.check(a) for a in archs]
        y = np.asarray(latency_ms, dtype=np.float64).reshape(-1)
        if len(items) != len(y):
            raise NasedgeError(f"{len(items)} archs but {len(y)} latencies; expected one latency per arch")
        if len(items) < self.min_samples:
            raise NasedgeError(f"predictor {self.name!r} needs at least {self.min_samples} measurements, "
                               f"got {len(items)}")
        low, high = LATENCY_RANGE_MS
        if not np.all(np.isfinite(y)) or np.any(y < low) or np.any(y > high):
            bad = int(np.flatnonzero(~np.isfinite(y) | (y < low) | (y > high))[0])
            raise NasedgeError(f"latency {float(y[bad])!r} ms of measurement {bad} is not valid; "
                               f"expected a number of milliseconds from {low:g} to {high:g}")
        with single_blas_thread():
            self._fit(items, y)
            # a profile that predicts NaN would pass every budget test as false, silently: refuse it here; one
            # that predicts its own samples as no time at all (raised to the floor below) ranks nothing either
            fitted = self._predictions(items)
            if not np.all(np.isfinite(fitted)):
                raise NasedgeError(f"predictor {self.name!r} did not fit these {len(y)} latencies "
                                   f"({y.min():g}-{y.max():g} ms) to finite predictions")
            if np.mean(fitted <= 0) > 0.5:
                raise NasedgeError(f"predictor {self.name!r} predicts {int(np.sum(fitted <= 0))} of the {len(y)} "
                                   f"archs it was fitted to at 0 ms or less ({y.min():g}-{y.max():g} ms measured)")
        self.floor = latency_floor(y)
        self.fitted = True
        return self

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted latency in milliseconds, one float64 per arch, none under :func:`latency_floor` of the samples."""
        if not self.fitted:
            raise RuntimeError(f"predictor {self.name!r} is not fitted; call fit() first")
        items = [self.encoding.check(a) for a in archs]
        if not items:
            return np.zeros(0)
        with single_blas_thread():
            pred = self._predictions(items)
        if not np.all(np.isfinite(pred)):  # NaN would fail every budget test silently, inf pass none
            bad = int(np.flatnonzero(~np.isfinite(pred))[0])
            raise NasedgeError(f"latency predictor {self.name!r} ({type(self).__qualname__}) predicted "
                               f"{float(pred[bad])!r} ms for arch {bad} of {len(items)}; expected a finite latency")
        return np.maximum(pred, self.floor)

    def _predictions(self, items: list) -> np.ndarray:
        """What :meth:`_predict` returns for ``items`` as float64, one per item: an implementation (a plugin's)
        returning another count, or no numbers, is a :class:`NasedgeError` naming it."""
        raw = self._predict(items)
        try:
            pred = None if raw is None else np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            pred = None
        if pred is None or pred.size != len(items):
            got = (f"a {type(raw).__name__} that is not numbers" if pred is None
                   else f"{pred.size} value{'' if pred.size == 1 else 's'}")
            raise returned(f"latency predictor {self.name!r} ({type(self).__qualname__})", f"{got} for {len(items)} "
                           f"archs", "one latency per arch")
        return pred.reshape(len(items))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: ``{"predictor", "space", "options", "floor", "state"}``."""
        if not self.fitted:
            raise RuntimeError(f"predictor {self.name!r} is not fitted; nothing to save")
        return {"predictor": self.name, "space": self.encoding.name, "options": dict(self.options),
                "floor": self.floor, "state": self._state()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Self:
        """Rebuild a fitted predictor from :meth:`to_dict` output."""
        try:
            if state["predictor"] != cls.name:
                raise NasedgeError(f"state is of predictor {state['predictor']!r}, not {cls.name!r}")
            self = cls(state["space"], **state.get("options", {}))
            self.floor = float(state.get("floor", 0.0))  # states stored before every predictor kept a floor: none
            self._load_state(state["state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NasedgeError(f"predictor state is not valid for {cls.name!r}: "
                               f"{type(exc).__name__}: {exc}") from None
        self.fitted = True
        return self

    def adaptation(self) -> str:
        """How the fitted predictor adapted to the device's samples, in one sentence (what it chose and why);
        empty when there was nothing to choose (the default)."""
        return ""

    def more_samples(self) -> str:
        """Why measuring more archs of the device would pay, in one sentence; empty when it would not (the
        default). A profile measures more archs, up to its limit, while the fitted predictor says so
        (:func:`nasedge.predict.profile.fit_with_more`)."""
        return ""

    # --- for implementations -------------------------------------------------------------------
    @abc.abstractmethod
    def _fit(self, items: list, latency_ms: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _predict(self, items: list) -> np.ndarray: ...

    @abc.abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.encoding.name!r}, fitted={self.fitted})"
