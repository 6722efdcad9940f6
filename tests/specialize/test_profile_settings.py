"""A stored profile is of the settings it was measured under: another board under the same name does not take it."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from nasedge.measure.device import Device
from nasedge.predict import profile as profiles
from nasedge.specialize.latency import profile_source
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")


def _board(threads: int) -> Device:
    return Device.from_config({"name": "b", "where": "local", "measure": {
        "_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "torch", "threads": threads}})


def _profile(settings: str, scale: float = 1.0) -> profiles.DeviceProfile:
    archs = SPACE.sample_many(12, np.random.default_rng(0))
    lat = scale * np.array([1.0 + 0.1 * sum(a.depth) for a in archs])
    return replace(profiles.fit_profile("b", SPACE, archs, lat, "flops", cv_folds=0), settings=settings)


def _source(device, tmp_path, notes):
    return profile_source(device, SPACE, profiles_dir=str(tmp_path / "profiles"), predictor="flops",
                          predictor_options={}, cv_folds=0, num_archs=12, measurements=None, ray_address=None,
                          measurements_dir=tmp_path / "measurements", note=notes.append)


def test_a_profile_of_other_settings_is_measured_again(tmp_path, monkeypatch):
    # a board's YAML edited from 1 to 2 threads kept predicting with the 1-thread profile, without a word
    one, two = _board(1), _board(2)
    assert one.name == two.name and one.settings != two.settings
    profiles.save_profile(_profile(one.settings), tmp_path / "profiles")
    notes: list[str] = []
    assert _source(one, tmp_path, notes).kind == "profile" and notes == []

    measured = []

    def measure_again(device, space, measure, **kw):
        measured.append(device)
        fitted = _profile("", scale=2.0)
        return fitted, [SimpleNamespace(arch=a, noisy=False) for a in fitted.archs()]

    monkeypatch.setattr(profiles, "profile_device", measure_again)
    source = _source(two, tmp_path, notes)
    assert measured == ["b"] and source.kind == "new-profile"
    assert notes[0].startswith(f"the stored profile {tmp_path / 'profiles'}/b@ofa_mbv3_cifar.json was measured under "
                               f"other settings of b ({one.settings}, now {two.settings}); a new one is measured and "
                               f"replaces it")
    assert profiles.load_profile("b", tmp_path / "profiles", SPACE.name).settings == two.settings
    assert _source(two, tmp_path, notes).kind == "profile" and len(measured) == 1


def test_a_profile_of_unknown_settings_is_used(tmp_path):
    # profiles written before settings were recorded, and the service's, say nothing of them
    profiles.save_profile(_profile(""), tmp_path / "profiles")
    assert _source(_board(2), tmp_path, []).kind == "profile"
