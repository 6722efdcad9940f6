"""Factories for search_quality.py's --objective / --constraint hooks: the real predictors of `nasedge specialize`.

    --objective  experiments.specialize.predictors:accuracy            (the shipped accuracy predictor)
    --constraint experiments.specialize.predictors:latency=PROFILE.json (a device profile, ms)
"""

from __future__ import annotations

import functools

from nasedge.predict.accuracy import AccuracyPredictor
from nasedge.predict.profile import DeviceProfile
from nasedge.resources import assets_path


@functools.lru_cache(maxsize=None)
def _accuracy(space_name: str) -> AccuracyPredictor:
    return AccuracyPredictor.load(assets_path() / "cifar10_ofa_mbv3" / "accuracy_predictor.json")


def accuracy(space):
    """Predicted top-1 (%) of archs of the shipped CIFAR-10 supernet."""
    predictor = _accuracy(space.name)
    assert predictor.space.name == space.name, f"the shipped accuracy predictor is for {predictor.space.name}"
    return predictor.predict


def latency(space, path: str):
    """Predicted latency (ms) from a stored device profile."""
    with open(path) as f:
        profile = DeviceProfile.from_json(f.read(), path)
    assert profile.space == space.name, f"{path} is a profile of {profile.space}"
    return profile.predict
