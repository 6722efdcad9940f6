import json

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.profile import (DeviceProfile, fit_profile, list_profiles, load_profile, reference_archs,
                                     save_profile, spread_archs)
from nasedge.predict.encodings import get_encoding
from nasedge.spaces import get_space


def test_reference_archs():
    help_refs = reference_archs(get_space("ofa_mbv3_w1.2"))
    assert len(help_refs) == 10 and all(a.space == "ofa_mbv3_w1.2" for a in help_refs)
    cifar = get_space("ofa_mbv3_cifar")
    refs = reference_archs(cifar)
    assert len(set(refs)) == 10 and refs == reference_archs("ofa_mbv3_cifar")  # deterministic
    macs = get_encoding(cifar).macs(refs)
    assert np.all(np.diff(macs) >= 0) and macs[-1] > 1.5 * macs[0]  # spread over the range of cost
    assert len(reference_archs("nasbench201")) == 10
    with pytest.raises(NasedgeError, match="no sampler"):
        spread_archs(get_encoding("fbnet"), 5)


def test_fit_profile_any_ofa_device_20_measurements(ofa_sample, tmp_path):
    ds = ofa_sample
    rows = list(ds.reference) + list(np.flatnonzero(ds.arch_ids < 10))
    archs, y = [ds.items[i] for i in rows], ds.column("2080ti_64")[rows]
    profile = fit_profile("gpu-a", "ofa_mbv3_w1.2", archs, y)
    assert profile.predictor == "meta" and len(profile.measurements) == 20 and profile.quality["folds"] == 20
    assert profile.quality["spearman"] > 0.9
    path = save_profile(profile, tmp_path)
    assert path == tmp_path / "gpu-a.json" and list_profiles(tmp_path) == ["gpu-a"]
    loaded = load_profile("gpu-a", tmp_path)
    np.testing.assert_allclose(loaded.predict(ds.items[:50]), profile.predict(ds.items[:50]))
    assert json.loads(path.read_text())["measurements"][0][0] == archs[0].to_dict()


def test_profile_errors(tmp_path):
    with pytest.raises(NasedgeError, match="no latency profile for device 'nope'"):
        load_profile("nope", tmp_path)
    with pytest.raises(NasedgeError, match="device name '../x' is not valid"):
        load_profile("../x", tmp_path)
    (tmp_path / "bad.json").write_text('{"device": "bad"}')
    with pytest.raises(NasedgeError, match=r"bad.json: field 'space': missing"):
        load_profile("bad", tmp_path)
    with pytest.raises(NasedgeError, match="invalid JSON"):
        DeviceProfile.from_json("{", "p.json")


def test_fit_profile_on_cifar_space_measured_here(cifar_lut_case):
    """The CIFAR space has no latency data of its own: the family's meta model adapts to 20 real CPU samples."""
    space, _, archs, latency = cifar_lut_case
    profile = fit_profile("cpu-torch-t1", space, archs, latency)
    assert profile.space == "ofa_mbv3_cifar" and profile.quality["folds"] == 20
    assert profile.quality["mape"] < 15 and profile.quality["spearman"] > 0.6, profile.quality
    small, large = profile.predict([space.min_arch(), space.max_arch()])
    assert 0 < small < large
