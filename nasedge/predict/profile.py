"""Device profiles: a latency predictor fitted for one device, stored as JSON with its measurements.

A profile is what the rest of nasedge (search, the HTTP service, ``specialize``) uses to predict the
latency of archs on a device. It keeps the measurements it was fitted from, so it can be refitted
with a newer predictor, and its quality estimated by cross-validation on those measurements.

>>> profile = fit_profile("jetson-orin", space, archs, latency_ms)       # 10 reference + 10 more
>>> save_profile(profile); load_profile("jetson-orin").predict(candidates)
>>> profile, _ = profile_device("cpu", space, measure)    # measure 20 archs (up to 40 if they say so), fit

Profiles are keyed by device and search space: ``<device>@<space>.json`` (a device can have one per space;
the latency of a CIFAR subnet says little about an ImageNet one). Those shipped with nasedge
(``latency_predictors/profiles/``) are read-only; profiles fitted by the user are written to the nasedge
home (:mod:`nasedge.home`, ``<home>/profiles/``) or a folder the caller names, never into the package.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge import home
from nasedge.errors import NasedgeError, is_finite_real, is_integer, is_real, read_text_file, shortened
from nasedge.jsonlines import read_json_lines
from nasedge.predict import create_predictor, predictor_class, predictor_from_dict
from nasedge.predict.base import LatencyPredictor, StaleState
from nasedge.predict.encodings import LatencyEncoding, get_encoding
from nasedge.predict.metrics import quality
from nasedge.resources import shipped_path
from nasedge.spaces import SearchSpace, as_rng, get_space

_DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")  # 128 at most: as the service stores names
FORMAT = 1
SHIPPED, USER = "shipped", "user"  # where a stored profile comes from
POOR_SPEARMAN = 0.5  # below it a profile's picks are little better than random ones: said when it is fitted
# a measurement this far from its cross-validated prediction (times the spread of the others, and at least this
# ratio) reads as a hiccup of the machine it was taken on: said when the profile is fitted
FAR_SPREADS, FAR_RATIO = 4.0, 1.25


@dataclass(frozen=True)
class DeviceProfile:
    """A fitted latency predictor for one device."""

    device: str
    space: str
    predictor: str
    state: dict  # LatencyPredictor.to_dict()
    measurements: list  # [(arch record (JSON dict), latency_ms), ...] the predictor was fitted on
    quality: dict = field(default_factory=dict)  # cross-validated spearman, mape, within_10pct
    created: str = ""
    settings: str = ""  # the device's settings digest (Device.settings) it was measured under; "": not known
    # measurements far from their cross-validated prediction, [(position from 1, measured / predicted)]: a busy machine
    far_measurements: list = field(default_factory=list)
    # the file it was read from (not stored in it): a state that fails to load, lazily, names it
    source: str = field(default="", compare=False, repr=False)

    @functools.cached_property
    def latency_predictor(self) -> LatencyPredictor:
        try:
            return predictor_from_dict(self.state)
        except StaleState:
            # the meta model was retrained since, or the predictor's columns changed: refit the same measurements
            return create_predictor(self.predictor, self.space, **self.state.get("options", {})).fit(
                self.archs(), self.latencies())
        except NasedgeError as exc:
            if not self.source:
                raise
            raise NasedgeError(f"{self.source}: field 'state': {exc}") from None

    def warnings(self) -> list[str]:
        """One sentence per thing its cross-validation says the user should know: that it ranks archs barely better
        than chance (too few or too noisy measurements), and which measurements read far from what the others
        predict (:attr:`far_measurements`: a busy machine; the robust fits discount them, a remeasurement is better)."""
        out = []
        rho = self.quality.get("spearman") if self.quality else None
        if rho is not None and rho < POOR_SPEARMAN:
            out.append(f"the profile ranks archs poorly (cross-validated Spearman {rho:.2f} on its "
                       f"{len(self.measurements)} measurements): measure more archs, on a quieter machine, before "
                       f"trusting its picks")
        if self.far_measurements:
            far = self.far_measurements
            shown = ", ".join(f"#{i} {r:.3g}x" for i, r in far[:5]) + (", ..." if len(far) > 5 else "")
            out.append(f"{len(far)} of {len(self.measurements)} measurements read far from what the others predict "
                       f"(in order, measured / predicted: {shown}): the machine was probably busy then; the fit "
                       f"discounts them, but remeasuring those archs makes a better profile")
        return out

    def other_settings(self, settings: str) -> str:
        """Why the profile is not of the device whose settings digest (``Device.settings``) is ``settings`` now, in
        words: measured under other settings (its YAML edited since, another board added under its name); "" where
        it is, or does not record its settings."""
        if self.settings in ("", settings):
            return ""
        return f"measured under other settings of {self.device} ({self.settings}, now {settings})"

    def more_measurements(self) -> str:
        """Why measuring more archs of the device would pay, in one sentence; empty when it would not.
        Measurements too few to cross-validate say nothing of the profile's quality, whatever the predictor's
        own error on them (:meth:`LatencyPredictor.more_samples`) reads: 3 fit almost exactly."""
        n = len(self.measurements)
        if cv_fits(n, n, predictor_class(self.predictor).min_samples) == 1:
            return f"too few measurements ({n}) to cross-validate the profile, so its quality is not known"
        return self.latency_predictor.more_samples()

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted latency on this device, milliseconds."""
        return self.latency_predictor.predict(archs)

    def archs(self) -> list:
        """The measured archs (as :class:`Arch` for OFA-family spaces)."""
        enc = get_encoding(self.space)
        return [enc.parse(rec) for rec, _ in self.measurements]

    def latencies(self) -> np.ndarray:
        return np.array([lat for _, lat in self.measurements], dtype=np.float64)

    def latency_range(self, samples: int = 200, seed: int = 0) -> dict[str, float]:
        """:func:`latency_range` of this profile in its space."""
        return latency_range(self.predict, get_space(self.space), samples, seed)

    def to_json(self) -> str:
        data = {"format": FORMAT, **asdict(self)}
        del data["source"]
        data["measurements"] = [[rec, float(lat)] for rec, lat in self.measurements]
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str | None = None) -> DeviceProfile:
        where = f"{source}: " if source else ""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{where}invalid JSON at line {exc.lineno} column {exc.colno}: "
                               f"{exc.msg}") from None
        if not isinstance(data, dict):
            raise NasedgeError(f"{where}expected a JSON object (a device profile)")
        if data.get("format", FORMAT) != FORMAT:
            raise NasedgeError(f"{where}field 'format': value {data.get('format')!r} is not supported; "
                               f"expected {FORMAT}")
        missing = [k for k in ("device", "space", "predictor", "state", "measurements") if k not in data]
        if missing:
            raise NasedgeError(f"{where}field '{missing[0]}': missing (the field is required)")
        meas = data["measurements"]
        if not isinstance(meas, list) or not all(isinstance(m, list) and len(m) == 2 for m in meas):
            raise NasedgeError(f"{where}field 'measurements': expected a list of [arch, latency_ms] pairs")
        for i, (_, lat) in enumerate(meas):
            if not is_real(lat) or not 0 < lat < math.inf:
                raise NasedgeError(f"{where}field 'measurements[{i}]': latency {lat!r} is not valid; "
                                   f"expected a positive number of milliseconds")
        return cls(device=str(data["device"]), space=str(data["space"]), predictor=str(data["predictor"]),
                   state=data["state"], measurements=[(rec, float(lat)) for rec, lat in meas],
                   quality=_quality(data.get("quality", {}), where), created=str(data.get("created", "")),
                   settings=str(data.get("settings", "")),
                   far_measurements=_far_measurements(data.get("far_measurements", []), where, len(meas)),
                   source=source or "")


QUALITY = ("spearman", "mape", "within_10pct")  # what a cross-validated profile states; {}: too few to tell


def _quality(value: Any, where: str) -> dict:
    """A profile's ``quality`` field, checked: empty, or a number for each of :data:`QUALITY` (and more keys)."""
    if value == {}:
        return {}
    if not isinstance(value, dict):
        raise NasedgeError(f"{where}field 'quality': expected an object with {', '.join(QUALITY)}")
    for key in QUALITY:
        v = value.get(key)
        if not is_finite_real(v):
            raise NasedgeError(f"{where}field 'quality.{key}': value {v!r} is not valid; expected a number")
    return dict(value)


def _far_measurements(value: Any, where: str, measurements: int) -> list:
    """A profile's ``far_measurements`` field, checked: ``[[position from 1, measured / predicted], ...]``."""
    if not isinstance(value, list) or not all(
            isinstance(f, list) and len(f) == 2 and is_integer(f[0]) and 1 <= f[0] <= measurements
            and is_finite_real(f[1]) and f[1] > 0 for f in value):
        raise NasedgeError(f"{where}field 'far_measurements': value {shortened(repr(value), 60)} is not valid; "
                           f"expected a list of [position from 1 to {measurements}, measured / predicted]")
    return [(int(i), float(r)) for i, r in value]


def latency_range(predict: Callable[[Sequence[Arch]], np.ndarray], space: SearchSpace, samples: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """Predicted latency (ms) of ``space``'s smallest and largest subnet, and the range over ``samples`` seeded
    random subnets: what a budget on the device can choose between."""
    ends = np.asarray(predict([space.min_arch(), space.max_arch()]), dtype=float)
    sampled = np.asarray(predict(space.sample_many(samples, as_rng(seed))), dtype=float) if samples else ends
    return {"min_arch_ms": float(ends[0]), "max_arch_ms": float(ends[1]), "samples": samples,
            "sampled_min_ms": float(sampled.min()), "sampled_max_ms": float(sampled.max())}


MIN_CV_FOLDS = 3  # fewer folds say too little about a predictor to print as its quality


def check_cv_folds(value: Any, key: str = "predictor.cv_folds", none: bool = False) -> int:
    """``value`` as a number of cross-validation folds, or one line naming ``key`` (``none``: 0, no
    cross-validation, is allowed too)."""
    if not is_integer(value) or (value < MIN_CV_FOLDS and not (none and value == 0)):
        raise NasedgeError(f"{key}: value {value!r} is not valid; expected an integer >= {MIN_CV_FOLDS} "
                           f"(leave-one-out up to that many measurements){' or 0 (none)' if none else ''}")
    return int(value)


def cv_fits(measurements: int, folds: int, min_train: int = 1) -> int:
    """How many fits a profile of ``measurements`` takes: its own, and one per cross-validation fold (none
    where a fold would leave fewer than ``min_train`` measurements to fit, the predictor's minimum)."""
    k = min(folds, measurements)
    if k < MIN_CV_FOLDS or measurements - math.ceil(measurements / k) < min_train:  # the largest fold held out
        return 1
    return 1 + k


def _cross_validated(name: str, enc: LatencyEncoding, items: list, y: np.ndarray, options: dict,
                     folds: int, progress: Optional[Callable[[int], None]] = None
                     ) -> tuple[dict[str, float], list[tuple[int, float]]]:
    """Quality of predictor ``name`` on held-out measurements (leave-one-out up to ``folds`` samples), and the
    measurements far from their held-out prediction (:func:`find_far_measurements`); ``progress(folds done)`` after each
    fold."""
    n = len(items)
    k = cv_fits(n, folds, predictor_class(name).min_samples) - 1
    if not k:
        return {}, []
    order = np.random.default_rng(0).permutation(n)
    pred = np.empty(n)
    for f in range(k):
        test = order[f::k]
        train = np.setdiff1d(order, test)
        p = create_predictor(name, enc, **options).fit([items[i] for i in train], y[train])
        pred[test] = p.predict([items[i] for i in test])
        if progress is not None:
            progress(f + 1)
    return {**quality(pred, y), "folds": k}, find_far_measurements(y, pred)


def find_far_measurements(y: np.ndarray, predicted: np.ndarray) -> list[tuple[int, float]]:
    """``[(position from 1, measured / predicted)]`` of the measurements whose log ratio to their held-out prediction
    is more than :data:`FAR_SPREADS` robust spreads (1.4826 x the median absolute deviation) from the median one, and
    more than :data:`FAR_RATIO` off it."""
    e = np.log(np.asarray(y, dtype=np.float64) / np.maximum(np.asarray(predicted, dtype=np.float64), 1e-12))
    d = np.abs(e - np.median(e))
    limit = max(FAR_SPREADS * 1.4826 * float(np.median(d)), math.log(FAR_RATIO))
    # 4 significant figures: a reading 3000 times too fast (seconds for milliseconds) is no ratio of 0.0
    return [(int(i) + 1, float(f"{np.exp(e[i]):.4g}")) for i in np.flatnonzero(d > limit)]


def fit_profile(device: str, space: SearchSpace | LatencyEncoding | str, archs: Sequence[Arch],
                latency_ms: Sequence[float], predictor: str = "meta", *, cv_folds: int = 20,
                progress: Optional[Callable[[int, int], None]] = None, **options: Any) -> DeviceProfile:
    """Fit predictor ``predictor`` on a device's measurements; quality by ``cv_folds``-fold cross-validation (at
    least 3; 0: none).
    ``progress(fits done, fits in all)`` after each fit (:func:`cv_fits`: minutes with hundreds of measurements)."""
    check_device_name(device)
    cv_folds = check_cv_folds(cv_folds, "cv_folds", none=True)
    enc = get_encoding(space)
    items = [enc.check(a) for a in archs]
    _check_distinct(items)
    try:
        y = np.asarray(list(latency_ms), dtype=np.float64)
    except (TypeError, ValueError):
        raise NasedgeError(f"latency_ms: {shortened(repr(latency_ms))} is not valid; expected one number of "
                           f"milliseconds per arch") from None
    fitted = create_predictor(predictor, enc, **options).fit(items, y)
    total = cv_fits(len(items), cv_folds, fitted.min_samples)
    if progress is not None:
        progress(1, total)
    return _profile(device, fitted, items, y, cv_folds, options,
                    None if progress is None else lambda done: progress(1 + done, total))


def _profile(device: str, fitted: LatencyPredictor, items: list, y: np.ndarray, cv_folds: int,
             options: dict, progress: Optional[Callable[[int], None]] = None) -> DeviceProfile:
    """The profile of ``fitted`` (fitted to ``items``, ``y``), its quality by cross-validation."""
    enc = fitted.encoding
    checked, far = _cross_validated(fitted.name, enc, items, y, options, cv_folds, progress)
    return DeviceProfile(
        device=device, space=enc.name, predictor=fitted.name, state=fitted.to_dict(),
        measurements=[(enc.to_record(a), float(v)) for a, v in zip(items, y)], quality=checked,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        far_measurements=far,
    )


@dataclass(frozen=True)
class MeasurementCheck:
    """What :func:`check_measurements` found in a device's measurements (all of it fit to be used)."""

    measurements: int
    references: int  # reference archs of the space
    missing_reference: int  # of them, not measured (allowed explicitly)
    noisy: int  # measurements flagged noisy
    predictor: str = "meta"  # the predictor the profile fits

    def warnings(self) -> list[str]:
        """One sentence per thing the user should know before trusting the profile."""
        out = []
        if self.missing_reference and self.predictor == "meta":  # the other predictors do not use them
            out.append(f"{self.missing_reference} of the {self.references} reference archs are not measured "
                       f"(allowed): the meta predictor reads the device from them, so expect a weaker profile")
        if self.noisy:
            out.append(f"{self.noisy} of {self.measurements} measurements are flagged noisy (the machine was "
                       f"busy); refit on a quieter machine for a better profile")
        return out


def _check_distinct(items: Sequence) -> dict:
    """``{arch: its position}``; a repeated arch is refused: it counts twice in the fit, and its cross-validation
    predicts it from itself."""
    measured: dict = {}
    for i, arch in enumerate(items):
        j = measured.setdefault(arch, i)
        if j != i:
            raise NasedgeError(f"measurements #{j + 1} and #{i + 1} (in order) are of the same arch; keep one "
                               f"(the median of repeated measurements of an arch is its measurement)")
    return measured


def check_measurements(space: SearchSpace | LatencyEncoding | str, archs: Sequence, noisy: Sequence[bool] = (),
                       *, predictor: str = "meta", allow_missing_reference: bool = False,
                       listed_by: str = "", allow_by: str = "--allow-missing-reference",
                       references: Sequence | None = None) -> MeasurementCheck:
    """The one rule for a device's measurements before a profile is fitted from them (``nasedge predictor fit``,
    ``specialize --measurements``, the service's ``POST /v1/devices``).

    Every reference arch of the space must be measured (they are the meta predictor's view of the device),
    unless ``allow_missing_reference``; there must be as many measurements as the predictor needs; noisy ones
    (``noisy``: a flag per measurement) are counted. ``listed_by`` and ``allow_by`` finish the error message
    in the caller's words (where the reference archs are listed, how to allow missing ones).
    """
    enc = get_encoding(space)
    if isinstance(archs, (str, bytes)):
        raise NasedgeError(f"archs: {shortened(repr(archs))} is not valid; expected a list of archs")
    archs = [enc.check(a) for a in archs]  # of the space: another space's archs were counted as measurements
    measured = _check_distinct(archs)
    if references is None:
        try:
            references = reference_archs(enc)
        except NasedgeError:  # a space without a sampler or shipped reference archs: no reference to require
            references = []
    missing = [r for r in references if r not in measured]
    if missing and not allow_missing_reference:
        where = f" ({listed_by} lists them)" if listed_by else ""
        raise NasedgeError(f"{len(missing)} of the {len(references)} reference archs of space {enc.name!r} are not "
                           f"measured{where}; measure them, or allow it with {allow_by}")
    need = predictor_class(predictor).min_samples
    if len(archs) < need:
        raise NasedgeError(f"{len(archs)} measurement{'' if len(archs) == 1 else 's'} given; predictor {predictor!r} "
                           f"needs at least {need}")
    return MeasurementCheck(len(archs), len(references), len(missing), int(sum(bool(x) for x in noisy)),
                            predictor)


REFERENCE_ARCHS = 10  # measured first on every device: the HELP benchmark's hardware embedding, and the benchmarks'


def reference_archs(space: SearchSpace | LatencyEncoding | str, n: int = REFERENCE_ARCHS) -> list:
    """The archs to measure first on a new device: the meta predictor's hardware embedding.

    Shipped in ``latency_predictors/reference_archs/<space>.jsonl`` for the spaces with public latency
    data (for ``ofa_mbv3_w1.2``, the 10 reference archs of the HELP benchmark, which the meta predictor
    was trained with); for other spaces ``n`` archs spread evenly over the space's range of MACs
    (deterministic, see :func:`spread_archs`).
    """
    enc = get_encoding(space)
    path = shipped_path("latency_predictors") / "reference_archs" / f"{enc.name}.jsonl"
    if path.is_file():
        return [enc.parse(rec, where) for where, rec in read_json_lines(path)]
    return spread_archs(enc, n)


def spread_archs(enc: LatencyEncoding, n: int, pool: int = 1000, seed: int = 0) -> list:
    """``n`` archs at the middle of each ``1/n`` of ``pool`` seeded samples of an OFA space ordered by MACs.

    The same rule picks the reference archs of the latency datasets nasedge measures itself
    (experiments/latency_datasets), so a profile's reference archs are theirs.
    """
    space = getattr(enc, "space", None)
    if space is None:
        raise NasedgeError(f"space {enc.name!r} has no sampler; its reference archs come with its meta weights")
    candidates = space.sample_many(pool, as_rng(seed))
    macs = enc.macs(candidates)
    order = sorted(range(len(candidates)), key=lambda i: macs[i])
    return [candidates[order[int((k + 0.5) * len(candidates) / n)]] for k in range(n)]


def profile_archs(space: SearchSpace | LatencyEncoding | str, n: int = 20, seed: int = 0,
                  active: bool = True, references: Sequence | None = None) -> list:
    """The archs to measure on a new device: its ``reference_archs`` first, then seeded others (``n`` in all).

    With ``active`` (the default), the archs after the reference ones are chosen among
    :data:`~nasedge.predict.active.POOL` seeded random candidates by :func:`nasedge.predict.active.select_archs`
    (every other one among those that pin a linear latency model down best, the rest random); without, they
    are taken as drawn. Either way the archs of a smaller ``n`` are the first ones of a larger ``n``.
    ``references``: the space's :func:`reference_archs`, where the caller holds them already.
    """
    if not is_integer(n) or n < 1:
        raise NasedgeError(f"n: value {n!r} is not valid; expected a positive count of archs")
    n = int(n)
    enc = get_encoding(space)
    archs = list(reference_archs(enc) if references is None else references)[:n]
    sampler = getattr(enc, "space", None)
    if len(archs) < n:
        if sampler is None:
            raise NasedgeError(f"space {enc.name!r} has no sampler; only its {len(archs)} reference archs")
        taken = set(archs)
        if active:
            from nasedge.predict.active import POOL, select_archs

            candidates = list(dict.fromkeys(a for a in sampler.sample_many(POOL, seed) if a not in taken))
            return archs + [candidates[i] for i in select_archs(enc, archs, candidates, n - len(archs))]
        for a in sampler.sample_many(n + len(archs), seed):
            if len(archs) == n:
                break
            if a not in taken:
                archs.append(a)
                taken.add(a)
    return archs


MORE_ARCHS = 10  # archs measured at a time when the fitted predictor asks for more (see fit_with_more)


def fit_with_more(predictor: str, space: SearchSpace | LatencyEncoding | str, first: int, limit: int,
                  measured: Callable[[int], tuple[list, np.ndarray]], note: Callable[[str], None] | None = None,
                  **options: Any) -> tuple[LatencyPredictor, int]:
    """Fit ``predictor`` on the first ``first`` archs of a device, then on :data:`MORE_ARCHS` more at a time
    while the fitted predictor says more would pay (:meth:`LatencyPredictor.more_samples`; for ``meta``: its
    samples left out are predicted more than 5 % off, or 2 % where its prior does not fit the device), up to
    ``limit`` archs in all.

    ``measured(n)`` returns the first ``n`` archs and their latencies (measuring those not measured yet), so
    the archs must come in a fixed order (:func:`profile_archs` of a larger ``n`` starts with those of a
    smaller one). ``note`` hears why more are measured. Returns the fitted predictor and the archs it used.
    """
    enc = get_encoding(space)
    n = first
    while True:
        archs, y = measured(n)
        fitted = create_predictor(predictor, enc, **options).fit(archs, y)
        reason = fitted.more_samples() if n < limit else ""
        if not reason:
            return fitted, n
        step = min(MORE_ARCHS, limit - n)
        if note is not None:
            note(f"{reason}; measuring {step} more archs ({n + step} in all)")
        n += step


def profile_device(device: str, space: SearchSpace | str,
                   measure: Callable[[list[tuple[str, Arch]]], Sequence[Any]], *, num_archs: int = 20,
                   max_archs: int | None = None, seed: int = 0, predictor: str = "meta", cv_folds: int = 20,
                   note: Callable[[str], None] | None = None, active: bool = True,
                   **options: Any) -> tuple[DeviceProfile, list]:
    """Measure :func:`profile_archs` with ``measure`` and fit the profile of ``device`` to the result.

    ``measure(rows)`` takes ``(arch_id, arch)`` rows (ids ``profile-<i>``) and returns measurements
    (objects with ``arch_id``, ``arch`` and ``median_ms``, e.g. :class:`nasedge.measure.Measurement`)
    that include one of every row; e.g. ``functools.partial(nasedge.measure.measure_to_csv, device,
    path=csv)``, which resumes an interrupted profiling. The measuring is the caller's: predict does
    not depend on measure. ``num_archs`` are measured first; when the predictor fitted to them asks for
    more (:func:`fit_with_more`), more, up to ``max_archs`` in all (default: twice ``num_archs``; equal to
    it: never more); ``note`` hears why; ``active``: which archs (:func:`profile_archs`). Returns the profile
    and the measurements of the rows, in row order.
    """
    enc = get_encoding(space)
    limit = 2 * num_archs if max_archs is None else max_archs
    if limit < num_archs:
        raise NasedgeError(f"at most {limit} archs to measure, fewer than the {num_archs} measured first")
    if getattr(enc, "space", None) is None:  # no sampler: only the reference archs can be measured
        limit = num_archs
    check_device_name(device)
    ordered: list = []

    def columns() -> tuple[list, np.ndarray]:
        return [m.arch for m in ordered], np.array([m.median_ms for m in ordered], dtype=np.float64)

    def measured(n: int) -> tuple[list, np.ndarray]:
        rows = [(f"profile-{i}", a) for i, a in enumerate(profile_archs(enc, n, seed, active))]
        by_row = {(m.arch_id, m.arch): m for m in measure(rows)}
        ordered[:] = [by_row[row] for row in rows]
        return columns()

    fitted, _ = fit_with_more(predictor, enc, num_archs, limit, measured, note, **options)
    return _profile(device, fitted, *columns(), cv_folds, options), ordered  # the profile of that very fit


def check_device_name(device: str, plus: bool = True) -> str:
    """``device`` as a device name (it names the profile file); ``plus``: '+' allowed, as in the names of devices
    changed by ``device.*`` overrides (``<device>+<settings digest>``), which a new device's name must not take."""
    if not isinstance(device, str) or not _DEVICE_NAME.match(device) or (not plus and "+" in device):
        raise NasedgeError(f"device name {device!r} is not valid; use up to 128 letters, digits and "
                           f"{'. _ + -' if plus else '. _ -'} (it names the profile file)")
    return device


def case_twin(device: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that differs from ``device`` only in case, or None. Device names are file names
    (profiles, device YAMLs): on a case-insensitive file system such twins would be one file."""
    return next((n for n in names if n.lower() == device.lower() and n != device), None)


def check_no_case_twin(device: str, names: Iterable[str]) -> None:
    """Refuse ``device`` as a new name next to a case twin among ``names`` (``nasedge devices add``, the service)."""
    twin = case_twin(device, names)
    if twin is not None:
        raise NasedgeError(f"device name {device!r} differs from the existing device {twin!r} only in case; choose "
                           f"another name")


def shipped_profiles_dir() -> Path:
    """The profiles shipped with nasedge (``latency_predictors/profiles``): read-only."""
    return shipped_path("latency_predictors") / "profiles"


def profiles_dir(directory: str | Path | None = None) -> Path:
    """Where profiles are written: ``directory``, else the user's nasedge home (never the shipped folder)."""
    return Path(directory) if directory is not None else home.profiles_dir()


def profile_path(device: str, space: str, directory: str | Path | None = None) -> Path:
    """``<directory>/<device>@<space>.json``: a device has one profile per search space."""
    if not isinstance(space, str) or not _DEVICE_NAME.match(space):
        raise NasedgeError(f"space name {space!r} is not valid in a profile file name")
    return profiles_dir(directory) / f"{check_device_name(device)}@{space}.json"


def save_profile(profile: DeviceProfile, directory: str | Path | None = None) -> Path:
    """Write ``<directory>/<device>@<space>.json`` atomically (default: the user's home); returns the path."""
    directory = profiles_dir(directory)
    if _same_dir(directory, shipped_profiles_dir()):
        raise NasedgeError(f"{directory}: the profiles shipped with nasedge are read-only; profiles are written "
                           f"to the nasedge home ({home.profiles_dir()}) or a --profiles-dir")
    path = profile_path(profile.device, profile.space, directory)
    atomic_write_text(path, profile.to_json() + "\n")
    return path


@dataclass(frozen=True)
class StoredProfile:
    """Where a profile is stored: ``source`` is ``shipped`` (read-only, comes with nasedge) or ``user``."""

    device: str
    space: str
    source: str
    path: Path


def _same_dir(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def profile_source(directory: str | Path) -> str:
    """``shipped`` for nasedge's own profile folder, ``user`` for any other."""
    return SHIPPED if _same_dir(Path(directory), shipped_profiles_dir()) else USER


def _search_dirs(directory: str | Path | None) -> list[Path]:
    # the user's profiles first: a profile fitted here shadows a shipped one of the same device and space
    return [Path(directory)] if directory is not None else [home.profiles_dir(), shipped_profiles_dir()]


def stored_profiles(device: str | None = None, directory: str | Path | None = None) -> list[StoredProfile]:
    """The stored profiles (of ``device``, else of every device), by device and space: those in ``directory``,
    else the user's (nasedge home) and the shipped ones, a user's shadowing a shipped one of the same name."""
    pattern = f"{check_device_name(device)}@*.json" if device is not None else "*@*.json"
    found: dict[tuple[str, str], StoredProfile] = {}
    for d in _search_dirs(directory):
        if not d.is_dir():
            continue
        source = profile_source(d)
        for p in d.glob(pattern):
            name, _, space = p.stem.partition("@")
            found.setdefault((name, space), StoredProfile(name, space, source, p))
    return [found[k] for k in sorted(found)]


def profile_spaces(device: str, directory: str | Path | None = None) -> list[str]:
    """The spaces ``device`` has a stored profile for."""
    return [s.space for s in stored_profiles(device, directory)]


def find_profile(device: str, space: str | None = None, directory: str | Path | None = None) -> StoredProfile:
    """The stored profile of ``device`` for ``space`` (``None``: its only one); :class:`NasedgeError` if none."""
    check_device_name(device)  # None would mean every device's: another device's profile
    stored = stored_profiles(device, directory)
    where = profiles_dir(directory) if directory is not None else \
        f"{home.profiles_dir()} or the shipped {shipped_profiles_dir()}"
    if space is None:
        if len(stored) > 1:
            raise NasedgeError(f"device {device!r} has profiles for several spaces "
                               f"({', '.join(s.space for s in stored)}); name one (--space)")
        if not stored:
            import difflib

            close = difflib.get_close_matches(device, sorted({s.device for s in stored_profiles(None, directory)}), 1)
            hint = f"did you mean {close[0]!r}? or " if close else ""
            raise NasedgeError(f"no latency profile for device {device!r} in {where}; "
                               f"{hint}create it with `nasedge predictor fit --device {device}`")
        return stored[0]
    for s in stored:
        if s.space == space:
            return s
    raise NasedgeError(f"no latency profile for device {device!r} in space {space!r} in {where}; "
                       f"create it with `nasedge predictor fit --device {device} --space {space}`")


def load_profile(device: str, directory: str | Path | None = None, space: str | None = None) -> DeviceProfile:
    """The stored profile of ``device`` for ``space`` (``None``: its only one); :class:`NasedgeError` if none."""
    path = find_profile(device, space, directory).path
    text = read_text_file(path, "a device profile (JSON)")
    profile = DeviceProfile.from_json(text, str(path))
    device, space = path.stem.split("@", 1)
    if (profile.device, profile.space) != (device, space):
        raise NasedgeError(f"{path}: holds the profile of {profile.device!r} in space {profile.space!r}, not of "
                           f"{device!r} in {space!r}; the file name must match")
    return profile


def list_profiles(directory: str | Path | None = None) -> list[str]:
    """Devices with at least one stored profile."""
    return sorted({s.device for s in stored_profiles(None, directory)})
