"""The latency predictor a specialization searches with, and what it rests on.

Four sources, in order of precedence:

- ``--predictor-url``: a remote predictor service (``nasedge.client``);
- a predict-only device (published measurements only): a predictor fitted to the published data of
  its own space family, applied to the supernet's space through the family's shared cost features
  (said so in the manifest: it is a transfer across spaces, never verified);
- a stored device profile (``<device>@<space>.json``: the user's in the nasedge home, else a shipped one);
- otherwise a new profile: from ``--measurements FILE.csv`` taken on the device, or by measuring the
  reference and support archs on the device now (resumable), then stored for the next run.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.resources import shipped_path
from nasedge.spaces import SearchSpace


@dataclass
class LatencySource:
    """``predict(archs) -> ms`` plus the facts the manifest reports about it."""

    predict: Callable[[Sequence[Arch]], np.ndarray]
    kind: str  # remote | published | profile | new-profile
    description: str  # one sentence for the manifest and report
    details: dict[str, Any] = field(default_factory=dict)


def remote_source(url: str, device: str, space: SearchSpace) -> LatencySource:
    """The latency predictor of ``device`` served at ``url`` (token from ``NASEDGE_TOKEN`` if the service wants one)."""
    from nasedge.client import PredictorClient

    remote = PredictorClient(url, token=os.environ.get("NASEDGE_TOKEN")).latency_predictor(device)
    if remote.space != space.name:
        raise NasedgeError(f"the predictor service at {url} has {device!r} registered for space {remote.space!r}, "
                           f"but the supernet's space is {space.name!r}")
    return LatencySource(lambda archs: np.asarray(remote.predict(list(archs)), dtype=float), "remote",
                         f"latency predicted by the predictor service at {url} ({remote.name}, profile "
                         f"version {remote.version})", {"url": url, "predictor": remote.name, "version": remote.version})


def published_data_dir(dataset: str) -> Path:
    """Folder of a published latency dataset (``help/ofa``): ``$NASEDGE_LATENCY_DATA/<dataset>``, else the
    sample shipped in ``latency_predictors/data/<dataset with _>_sample``."""
    root = os.environ.get("NASEDGE_LATENCY_DATA")
    if root and (Path(root) / dataset).is_dir():
        return Path(root) / dataset
    shipped = shipped_path("latency_predictors") / "data" / f"{dataset.replace('/', '_')}_sample"
    if shipped.is_dir():
        return shipped
    raise NasedgeError(f"published latency dataset {dataset!r} not found: set NASEDGE_LATENCY_DATA to the folder "
                       f"holding {dataset}/ (archs.jsonl, latency_ms.csv)")


def published_source(device: Any, space: SearchSpace, predictor: str = "flops") -> LatencySource:
    """A predictor fitted to a predict-only device's published measurements of ``space``'s family.

    The published archs are of another space (HELP's OFA data is the w1.2 ImageNet space); the fitted
    predictor reads the cost features every space of the family shares (MACs for ``flops``), so it
    applies to ``space``'s archs, outside the range it was fitted on when the spaces differ in size.
    """
    from nasedge.predict import create_predictor
    from nasedge.predict.dataset import load_dataset
    from nasedge.predict.encodings import get_encoding

    enc = get_encoding(space)
    for entry in device.data:
        try:
            folder = published_data_dir(entry.dataset)
            ds = load_dataset([str(folder)], getattr(enc, "family", None) or space.name)
        except NasedgeError:
            continue
        if getattr(ds.encoding, "family", None) != enc.family or entry.column not in ds.devices:
            continue
        rows = ds.measured(entry.column)
        items, lat = [ds.items[i] for i in rows], ds.column(entry.column)[rows]
        fitted = create_predictor(predictor, ds.encoding).fit(items, lat)
        same = ds.encoding.name == enc.name
        # the same fitted state read against the searched space's encoding (the family's shared features)
        target = fitted if same else type(fitted).from_dict({**fitted.to_dict(), "space": enc.name})
        fit_macs, our_macs = ds.encoding.macs(items), enc.macs([space.min_arch(), space.max_arch()])
        text = (f"unverified: {device.name} is predict-only; latency predicted by the {predictor} predictor fitted "
                f"to {len(items)} published measurements ({entry.dataset}:{entry.column}) of {ds.encoding.name} archs")
        if not same:
            text += (f", a different space than {space.name}: applied through the cost features both spaces share "
                     f"(MACs {fit_macs.min() / 1e6:.0f}-{fit_macs.max() / 1e6:.0f} M fitted, "
                     f"{our_macs.min() / 1e6:.1f}-{our_macs.max() / 1e6:.1f} M searched), an extrapolation")
        return LatencySource(target.predict, "published", text, {
            "dataset": entry.dataset, "column": entry.column, "data_dir": str(folder), "predictor": predictor,
            "fitted_space": ds.encoding.name, "searched_space": space.name, "measurements": len(items),
            "cross_space": not same, "state": fitted.to_dict()})
    raise NasedgeError(f"device {device.name} is predict-only and none of its published datasets "
                       f"({', '.join(d.dataset for d in device.data)}) covers the {enc.family} family of {space.name}")


def profile_source(device: Any, space: SearchSpace, *, profiles_dir: Optional[str], predictor: str,
                   predictor_options: dict, cv_folds: int, num_archs: int, measurements: Optional[str],
                   ray_address: Optional[str], measurements_dir: Path, max_archs: Optional[int] = None,
                   progress: Optional[Callable[[int, int], None]] = None,
                   note: Optional[Callable[[str], None]] = None, active: bool = True,
                   predictor_given: Optional[str] = None,
                   check_writable: Optional[Callable[[bool], None]] = None) -> LatencySource:
    """The device's stored profile for ``space`` (the user's, else a shipped one), or a new one (from
    ``measurements`` or measured now: ``active`` picks the archs, see :func:`nasedge.predict.profile.profile_archs`),
    stored in ``profiles_dir`` (default: the nasedge home).

    ``predictor_given`` (the user's override choosing ``predictor`` or its options) is refused where a stored profile
    fitted otherwise would be used instead of it. ``check_writable(measuring)`` is called before a new profile is
    measured (``True``) or fitted from ``measurements``: the caller's check that the folders it is written to can be
    written, which would otherwise fail only when it is stored, after the measuring."""
    from nasedge.measure import measure_to_csv
    from nasedge.predict.profile import (check_measurements, fit_profile, load_profile, profile_device, save_profile,
                                         stored_profiles)

    stored = next((s for s in stored_profiles(device.name, profiles_dir) if s.space == space.name), None)
    warnings: list[str] = []
    profile = load_profile(device.name, profiles_dir, space.name) if stored and measurements is None else None
    if profile is not None and (other := profile.other_settings(device.settings)):
        if note is not None:  # its YAML was edited since: the profile is of another board
            note(f"the stored profile {stored.path} was {other}; a new one is measured and replaces it")
        stored = None
    if check_writable is not None and (measurements is not None or stored is None):
        check_writable(measurements is None)
    if measurements is None and stored is not None:
        options_given = predictor_given is not None and predictor_given.partition("=")[0] != "predictor"
        if predictor_given and (profile.predictor != predictor or options_given):
            raise NasedgeError(
                f"{predictor_given}: device {device.name} has a stored profile of {space.name} ({stored.path}, "
                f"{profile.predictor} predictor), which is used as it is; fit a new one with `nasedge predictor fit "
                f"--device {device.name} --predictor {predictor}` (stored in your home, it is used "
                f"{'before the shipped one' if stored.source == 'shipped' else 'instead'}), or drop "
                f"{predictor_given}")
        kind, how = "profile", f"stored profile {stored.path.name} ({stored.source})"
    elif measurements is not None:
        from nasedge.predict.dataset import read_device_measurements

        m = read_device_measurements(measurements, device.name, space.name, device.settings)
        warnings += [m.left_out] if m.left_out else []
        try:
            checked = check_measurements(space, m.archs, m.noisy, predictor=predictor,
                                         listed_by=f"`nasedge predictor archs --space {space.name}`",
                                         allow_by=f"`nasedge predictor fit --device {device.name} --measurements "
                                                  f"{measurements} --allow-missing-reference`, then drop --measurements")
        except NasedgeError as exc:
            raise NasedgeError(f"{measurements}: {exc}") from None
        warnings += checked.warnings()
        profile = fit_profile(device.name, m.encoding, m.archs, m.latency_ms, predictor, cv_folds=cv_folds,
                              **predictor_options)
        kind, how = "new-profile", f"new profile fitted to {len(m.archs)} measurements from {measurements}"
        if stored is not None and stored.source == "user":
            warnings.append(f"it replaces the stored profile {stored.path}")
    else:
        csv = measurements_dir / f"{device.name}@{space.name}.csv"
        measure = functools.partial(measure_to_csv, device, path=csv, ray_address=ray_address, progress=progress)
        profile, measured = profile_device(device.name, space, measure, num_archs=num_archs, max_archs=max_archs,
                                           predictor=predictor, cv_folds=cv_folds, note=note, active=active,
                                           **predictor_options)
        noisy = sum(m.noisy for m in measured)
        # the rule `predictor fit` applies: noisy measurements make a worse profile, said in a line of its own
        warnings = check_measurements(space, [m.arch for m in measured], [m.noisy for m in measured],
                                      predictor=predictor, allow_missing_reference=True).warnings()
        kind, how = "new-profile", (f"new profile from {len(measured)} archs measured on {device.name} now "
                                    f"({noisy} flagged noisy; measurements in {csv})")
    if kind == "new-profile":
        profile = replace(profile, settings=device.settings)
        warnings += profile.warnings()
    saved = save_profile(profile, profiles_dir) if kind == "new-profile" else stored.path
    if note is not None:
        for w in warnings:
            note(f"warning: {w}")
    q = profile.quality
    quality = (f"; cross-validated on its {len(profile.measurements)} measurements: Spearman {q['spearman']:.2f}, "
               f"MAPE {q['mape']:.1f} %") if q else ""
    return LatencySource(profile.predict, kind, f"latency predicted by the {profile.predictor} predictor of the "
                         f"{how}{quality}" + "".join(f"; {w}" for w in warnings),
                         {"profile": str(saved), "predictor": profile.predictor,
                          "measurements": len(profile.measurements), "quality": q, "created": profile.created})
