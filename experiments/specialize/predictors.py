"""Factories for search_quality.py's --objective / --constraint hooks: the real predictors of `nasedge specialize`.

    --objective  experiments.specialize.predictors:accuracy            (the shipped accuracy predictor)
    --constraint experiments.specialize.predictors:latency=PROFILE.json (a device profile, ms)
"""

from __future__ import annotations

import functools

from nasedge.errors import NasedgeError, read_text_file
from nasedge.predict.accuracy import AccuracyPredictor
from nasedge.predict.profile import DeviceProfile
from nasedge.resources import assets_path


@functools.lru_cache(maxsize=None)
def _accuracy(space_name: str) -> AccuracyPredictor:
    return AccuracyPredictor.load(assets_path() / "cifar10_ofa_mbv3" / "accuracy_predictor.json")


def accuracy(space):
    """Predicted top-1 (%) of archs of the shipped CIFAR-10 supernet."""
    predictor = _accuracy(space.name)
    if predictor.space.name != space.name:
        raise NasedgeError(f"the shipped accuracy predictor is for {predictor.space.name}, not {space.name}")
    return predictor.predict


def latency(space, path: str):
    """Predicted latency (ms) from a stored device profile."""
    profile = DeviceProfile.from_json(read_text_file(path, "a device profile JSON file"), path)
    if profile.space != space.name:
        raise NasedgeError(f"{path} is a profile of {profile.space}, not of {space.name}")
    return profile.predict
