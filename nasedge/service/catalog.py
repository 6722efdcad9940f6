"""The devices the service predicts for: profiles shipped with nasedge (read-only) and registered ones.

Registered profiles live in the database (:mod:`nasedge.service.storage`); their fitted predictors are
kept in memory, least recently used first out. Before predicting, the catalog asks the database for
the device's version (one indexed lookup per batch, not per arch), so a device deleted or registered
again through another process is never predicted with a stale predictor.

Shipped profiles (``latency_predictors/profiles/*.json``) have version 0 and cannot be replaced or
deleted through the service: a registration under a shipped name is refused (a published device's
numbers should not change under its users' feet).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasedge.errors import NasedgeError
from nasedge.predict.profile import DeviceProfile, list_profiles, load_profile, shipped_profiles_dir
from nasedge.service.storage import DeviceSummary, Storage

SHIPPED, REGISTERED = "shipped", "registered"


class UnknownDevice(NasedgeError):
    """No profile of that name, shipped or registered."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"no latency profile for device {name!r}; GET /v1/devices lists them, "
                         f"POST /v1/devices registers one")


class DeviceChanged(NasedgeError):
    """The device was registered again, for another space, while a request for it was in flight."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    space: str
    predictor: str
    version: int
    source: str  # shipped | registered
    measurements: int
    quality: dict = field(default_factory=dict)
    created: str = ""
    adaptation: str = ""


@dataclass(frozen=True)
class PredictJob:
    """One request's archs for one device (parsed for ``space``)."""

    device: str
    space: str
    archs: Sequence


@dataclass(frozen=True)
class Prediction:
    version: int
    predictor: str
    latency_ms: np.ndarray


def profile_info(version: int, profile: DeviceProfile, source: str) -> DeviceInfo:
    """What the service tells about a device whose profile is at hand (shipped, or just registered)."""
    return DeviceInfo(profile.device, profile.space, profile.predictor, version, source,
                      len(profile.measurements), dict(profile.quality), profile.created,
                      profile.latency_predictor.adaptation())


def _registered(s: DeviceSummary) -> DeviceInfo:
    return DeviceInfo(s.name, s.space, s.predictor, s.version, REGISTERED, s.measurements, s.quality, s.created,
                      s.adaptation)


class Catalog:
    """Shipped profiles from ``shipped_dir`` plus the registered ones in ``storage``."""

    def __init__(self, storage: Storage, shipped_dir: str | Path | None = None, cache_size: int = 64):
        self.storage = storage
        self.cache_size = cache_size
        directory = Path(shipped_dir) if shipped_dir is not None else shipped_profiles_dir()
        self._shipped = {name: load_profile(name, directory) for name in list_profiles(directory)}
        self._cache: OrderedDict[str, tuple[int, DeviceProfile]] = OrderedDict()
        self._lock = threading.Lock()

    # --- what is there ---------------------------------------------------------------------
    def is_shipped(self, name: str) -> bool:
        return name in self._shipped

    def shipped_names(self) -> list[str]:
        return list(self._shipped)

    def devices(self) -> list[DeviceInfo]:
        shipped = [profile_info(0, p, SHIPPED) for p in self._shipped.values()]
        registered = [_registered(s) for s in self.storage.summaries()]
        return sorted(shipped + registered, key=lambda d: d.name)

    def info(self, name: str) -> DeviceInfo:
        if name in self._shipped:
            return profile_info(0, self._shipped[name], SHIPPED)
        s = self.storage.summary(name)
        if s is None:
            raise UnknownDevice(name)
        return _registered(s)

    # --- fitted predictors -----------------------------------------------------------------
    def profile(self, name: str, check: bool = True) -> tuple[int, DeviceProfile]:
        """(version, profile) of ``name`` with its predictor loaded; ``check``: confirm the version first."""
        if name in self._shipped:
            return 0, self._shipped[name]
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                self._cache.move_to_end(name)
        if cached is not None and not check:
            return cached
        if cached is not None and self.storage.version(name) == cached[0]:
            return cached
        loaded = self.storage.get(name)
        if loaded is None:
            self.forget(name)
            raise UnknownDevice(name)
        loaded[1].latency_predictor  # noqa: B018  (load it now, outside any request's critical path)
        with self._lock:
            self._cache[name] = loaded
            self._cache.move_to_end(name)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return loaded

    def cached_space(self, name: str) -> str | None:
        """The space of ``name`` if known without asking the database (shipped or cached), else None."""
        if name in self._shipped:
            return self._shipped[name].space
        entry = self._cache.get(name)
        return None if entry is None else entry[1].space

    def cached_count(self) -> int:
        return len(self._cache)

    def forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)

    def warm_shipped(self) -> None:
        for profile in self._shipped.values():
            profile.latency_predictor  # noqa: B018

    def predict(self, jobs: Sequence[PredictJob]) -> list[Prediction | Exception]:
        """Predict every job, one predictor call per device; a job's failure is its result."""
        results: list[Prediction | Exception | None] = [None] * len(jobs)
        by_device: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_device.setdefault(job.device, []).append(i)
        for name, idx in by_device.items():
            try:
                version, profile = self.profile(name)
            except UnknownDevice as exc:
                for i in idx:
                    results[i] = exc
                continue
            ok = [i for i in idx if jobs[i].space == profile.space]
            for i in set(idx) - set(ok):
                # the request's archs were read in the space this process last knew the device by
                results[i] = DeviceChanged(f"device {name!r} has been registered again, for space "
                                           f"{profile.space!r}, not {jobs[i].space!r}; send archs of "
                                           f"{profile.space!r}")
            if not ok:
                continue
            archs = [a for i in ok for a in jobs[i].archs]
            latency = profile.predict(archs)
            start = 0
            for i in ok:
                n = len(jobs[i].archs)
                results[i] = Prediction(version, profile.predictor, latency[start:start + n])
                start += n
        return results  # type: ignore[return-value]
