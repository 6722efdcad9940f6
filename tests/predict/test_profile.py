import json
import re

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.profile import (DeviceProfile, fit_profile, list_profiles, load_profile, profile_archs,
                                     profile_spaces, reference_archs, save_profile, spread_archs)
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
    assert path == tmp_path / "gpu-a@ofa_mbv3_w1.2.json" and list_profiles(tmp_path) == ["gpu-a"]
    loaded = load_profile("gpu-a", tmp_path)  # its only profile
    assert load_profile("gpu-a", tmp_path, "ofa_mbv3_w1.2").measurements == loaded.measurements
    np.testing.assert_allclose(loaded.predict(ds.items[:50]), profile.predict(ds.items[:50]))
    assert json.loads(path.read_text())["measurements"][0][0] == archs[0].to_dict()


def test_profile_errors(tmp_path):
    with pytest.raises(NasedgeError, match="no latency profile for device 'nope'"):
        load_profile("nope", tmp_path)
    with pytest.raises(NasedgeError, match="device name '../x' is not valid"):
        load_profile("../x", tmp_path)
    (tmp_path / "bad@s.json").write_text('{"device": "bad"}')
    with pytest.raises(NasedgeError, match=r"bad@s.json: field 'space': missing"):
        load_profile("bad", tmp_path)
    with pytest.raises(NasedgeError, match="no latency profile for device 'bad' in space 'x'"):
        load_profile("bad", tmp_path, "x")
    with pytest.raises(NasedgeError, match="invalid JSON"):
        DeviceProfile.from_json("{", "p.json")
    with pytest.raises(NasedgeError, match="device name None is not valid"):  # it loaded another device's
        load_profile(None, tmp_path)
    (tmp_path / "bytes@s.json").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(NasedgeError, match=r"bytes@s.json: not UTF-8 text \(byte 0xff at offset 0\)"):
        load_profile("bytes", tmp_path)
    (tmp_path / "dir@s.json").mkdir()
    with pytest.raises(NasedgeError, match="dir@s.json: is a folder"):
        load_profile("dir", tmp_path)


@pytest.mark.parametrize("options, message", [
    ({"cv_folds": -1}, "cv_folds: value -1 is not valid"), ({"cv_folds": 1}, "cv_folds: value 1 is not valid"),
    ({"cv_folds": "5"}, "cv_folds: value '5' is not valid"), ({"latency_ms": "abc"}, "latency_ms: 'abc' is not valid"),
])
def test_fit_profile_refuses_bad_arguments_naming_them(ofa_sample, options, message):
    """cv_folds -1 skipped the cross-validation silently; a str of latencies failed inside numpy."""
    ds = ofa_sample
    archs, y = ds.items[:20], ds.column(ds.devices[0])[:20]
    args = {"latency_ms": y, "cv_folds": 5, **options}
    with pytest.raises(NasedgeError, match=message):
        fit_profile("d", ds.encoding, archs, args["latency_ms"], "flops", cv_folds=args["cv_folds"])
    assert fit_profile("d", ds.encoding, archs, (v for v in y), "flops", cv_folds=5).quality  # an iterable is fine
    assert fit_profile("d", ds.encoding, archs, y, "flops", cv_folds=np.int64(5)).quality  # numpy's integers too
    assert fit_profile("d", ds.encoding, archs, y, "flops", cv_folds=0).quality == {}  # 0: none


def test_fit_profile_on_cifar_space_measured_here(cifar_lut_case):
    """The CIFAR space has no latency data of its own: the family's meta model adapts to 20 real CPU samples."""
    space, _, archs, latency = cifar_lut_case
    profile = fit_profile("cpu-torch-t1", space, archs, latency)
    assert profile.space == "ofa_mbv3_cifar" and profile.quality["folds"] == 20
    assert profile.quality["mape"] < 15 and profile.quality["spearman"] > 0.6, profile.quality
    small, large = profile.predict([space.min_arch(), space.max_arch()])
    assert 0 < small < large


def test_one_profile_per_device_and_space(ofa_sample, tmp_path):
    ds = ofa_sample
    rows = list(ds.reference) + list(range(10))
    w12 = fit_profile("dev", "ofa_mbv3_w1.2", [ds.items[i] for i in rows], ds.column("v100_1")[rows], "flops")
    cifar_space = get_space("ofa_mbv3_cifar")
    archs = cifar_space.sample_many(5, 0)
    cifar = fit_profile("dev", cifar_space, archs, [1.0, 2.0, 3.0, 4.0, 5.0], "flops")
    save_profile(w12, tmp_path), save_profile(cifar, tmp_path)
    assert list_profiles(tmp_path) == ["dev"] and profile_spaces("dev", tmp_path) == ["ofa_mbv3_cifar", "ofa_mbv3_w1.2"]
    assert load_profile("dev", tmp_path, "ofa_mbv3_cifar").space == "ofa_mbv3_cifar"
    with pytest.raises(NasedgeError, match=r"device 'dev' has profiles for several spaces \(ofa_mbv3_cifar, "
                                           r"ofa_mbv3_w1.2\); name one"):
        load_profile("dev", tmp_path)
    (tmp_path / "dev@ofa_mbv3_cifar.json").rename(tmp_path / "other@ofa_mbv3_cifar.json")
    with pytest.raises(NasedgeError, match="holds the profile of 'dev'"):
        load_profile("other", tmp_path)


def test_profile_archs_reference_first():
    space = get_space("ofa_mbv3_cifar")
    archs = profile_archs(space, 20, seed=3)
    assert archs[:10] == reference_archs(space) and len(set(archs)) == 20
    assert profile_archs(space, 20, seed=3) == archs and profile_archs(space, 4) == archs[:4]
    assert profile_archs(space, np.int64(4)) == archs[:4]  # numpy's integers too
    with pytest.raises(NasedgeError, match="n: value -1 is not valid"):  # it returned 9 archs
        profile_archs(space, -1)


def test_one_rule_for_measurements_before_a_fit():
    from nasedge.predict.profile import check_measurements

    space = get_space("ofa_mbv3_cifar")
    refs = reference_archs(space)
    more = space.sample_many(3, 5)
    ok = check_measurements(space, [*refs, *more], [False] * 11 + [True, True])
    assert (ok.measurements, ok.references, ok.missing_reference, ok.noisy) == (13, 10, 0, 2)
    assert ok.warnings() == ["2 of 13 measurements are flagged noisy (the machine was busy); refit on a quieter "
                             "machine for a better profile"]
    with pytest.raises(NasedgeError, match=r"^4 of the 10 reference archs of space 'ofa_mbv3_cifar' are not measured "
                                           r"\(LIST lists them\); measure them, or allow it with FLAG$"):
        check_measurements(space, [*refs[:6], *more], listed_by="LIST", allow_by="FLAG")
    allowed = check_measurements(space, [*refs[:6], *more], allow_missing_reference=True)
    assert allowed.missing_reference == 4 and "4 of the 10 reference archs are not measured" in allowed.warnings()[0]
    with pytest.raises(NasedgeError, match="2 measurements given; predictor 'meta' needs at least 3"):
        check_measurements(space, refs[:2], allow_missing_reference=True)
    with pytest.raises(NasedgeError, match=r"^measurements #2 and #11 \(in order\) are of the same arch; keep one"):
        check_measurements(space, [*refs, refs[1], *more])  # pasted twice, or measured twice


def test_profiles_are_written_to_the_home_and_shipped_ones_are_read_only(nasedge_home):
    from nasedge.predict.profile import find_profile, shipped_profiles_dir, stored_profiles

    shipped = load_profile("cpu", space="ofa_mbv3_cifar")
    assert find_profile("cpu").source == "shipped"
    with pytest.raises(NasedgeError, match="the profiles shipped with nasedge are read-only"):
        save_profile(shipped, shipped_profiles_dir())
    path = save_profile(shipped)  # the user's own copy: in the home, shadowing the shipped one
    assert path == nasedge_home / "profiles" / "cpu@ofa_mbv3_cifar.json"
    assert [(s.source, s.path) for s in stored_profiles("cpu")] == [("user", path)]
    assert find_profile("cpu", "ofa_mbv3_cifar").source == "user"


def test_missing_reference_archs_are_a_warning_for_meta_only():
    from nasedge.predict.profile import MeasurementCheck

    assert "reference archs are not measured" in MeasurementCheck(20, 10, 10, 0).warnings()[0]
    assert MeasurementCheck(20, 10, 10, 0, predictor="lut").warnings() == []
    assert "flagged noisy" in MeasurementCheck(20, 10, 10, 3, predictor="flops").warnings()[0]


def _synthetic_device(latency, noise=0.0):
    """A measure callback for profile_device: ``latency(archs)`` in ms with a relative Gaussian error of
    standard deviation ``noise`` (seeded per row), recording the rows of every call."""
    from types import SimpleNamespace

    calls = []

    def measure(rows):
        calls.append(list(rows))
        return [SimpleNamespace(arch_id=i, arch=a, median_ms=float(latency([a])[0])
                                * (1 + noise * np.random.default_rng(k).standard_normal()))
                for k, (i, a) in enumerate(rows)]
    return measure, calls


def test_profile_device_measures_more_where_the_prior_does_not_fit():
    from nasedge.predict.profile import MORE_ARCHS, profile_device

    space = get_space("ofa_mbv3_cifar")
    enc = get_encoding(space)
    act = list(enc.feature_names).index("act")
    # latency set by the activations written alone, 3 % noise: unlike every device of the prior
    measure, calls = _synthetic_device(lambda a: 0.5 + 1e-5 * enc.features(a)[:, act], noise=0.03)
    notes = []
    profile, measured = profile_device("odd", space, measure, note=notes.append, cv_folds=3)
    assert [len(c) for c in calls] == [20, 20 + MORE_ARCHS, 40]  # up to twice the 20, 10 at a time
    assert all(c[:len(calls[0])] == calls[0] for c in calls)  # the first 20 are the same archs every time
    assert [m.arch for m in measured] == profile_archs(space, 40) and len(profile.measurements) == 40
    assert len(notes) == 2 and "the prior does not fit this device" in notes[0] and "(30 in all)" in notes[0]
    # never more than max_archs, and max_archs == num_archs measures no more
    measure, calls = _synthetic_device(lambda a: 0.5 + 1e-5 * enc.features(a)[:, act], noise=0.03)
    profile, measured = profile_device("odd", space, measure, num_archs=20, max_archs=25, cv_folds=3)
    assert [len(c) for c in calls] == [20, 25] and len(measured) == 25
    measure, calls = _synthetic_device(lambda a: 0.5 + 1e-5 * enc.features(a)[:, act], noise=0.03)
    assert len(profile_device("odd", space, measure, max_archs=20, cv_folds=3)[1]) == 20 and len(calls) == 1
    with pytest.raises(NasedgeError, match="at most 10 archs to measure, fewer than the 20 measured first"):
        profile_device("odd", space, measure, max_archs=10)


def test_profile_device_measures_more_only_where_the_samples_say_so():
    from nasedge.predict.profile import profile_device

    space = get_space("ofa_mbv3_cifar")
    enc = get_encoding(space)
    layers = list(enc.feature_names).index("layers")
    # a fixed cost per layer, 3 % noise: the prior holds devices like it (its samples keep the prior)
    measure, calls = _synthetic_device(lambda a: 0.5 + 0.3 * enc.features(a)[:, layers], noise=0.03)
    profile, _ = profile_device("launch-bound", space, measure, cv_folds=3)
    assert [len(c) for c in calls] == [20] and profile.latency_predictor.more_samples() == ""
    # exactly proportional to the MACs: a model of the samples alone fits them within 2 %, so no more
    measure, calls = _synthetic_device(lambda a: 0.2 + 1e-8 * enc.macs(a))
    profile, _ = profile_device("exact", space, measure, cv_folds=3)
    assert [len(c) for c in calls] == [20] and profile.state["state"]["blend"]["weights"] != {"prior": 1.0}
    # the same device measured with 10 % noise: the samples left out are predicted more than 5 % off, so more
    measure, calls = _synthetic_device(lambda a: 0.5 + 0.3 * enc.features(a)[:, layers], noise=0.10)
    notes = []
    profile_device("noisy", space, measure, cv_folds=3, note=notes.append)
    assert len(calls) > 1 and "off on average (more than 5 %)" in notes[0], notes
    # predictors that never ask (flops) measure num_archs
    measure, calls = _synthetic_device(lambda a: 0.5 + 0.3 * enc.features(a)[:, layers], noise=0.03)
    profile_device("launch-bound", space, measure, predictor="flops", cv_folds=3)
    assert [len(c) for c in calls] == [20]


def test_fit_profile_reports_its_fits(ofa_sample):
    """One fit and one per cross-validation fold, counted as they finish (minutes with hundreds of measurements)."""
    from nasedge.predict.profile import cv_fits

    ds = ofa_sample
    rows = list(ds.reference) + list(range(10, 20))
    calls = []
    fit_profile("v100", ds.encoding, [ds.items[i] for i in rows], ds.column("v100_1")[rows], "flops", cv_folds=5,
                progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)] and cv_fits(20, 5) == 6 and cv_fits(2, 5) == 1


def test_a_profile_that_ranks_poorly_says_so():
    # a profile of 5 noisy measurements ranked archs backwards (Spearman -0.6), stored and used without a word
    import numpy as np

    from nasedge.predict.profile import fit_profile
    from nasedge.spaces import get_space

    space = get_space("ofa_mbv3_cifar")
    archs = space.sample_many(12, np.random.default_rng(1))
    macs = np.array([sum(a.depth) * a.resolution for a in archs], dtype=float)
    good = fit_profile("b", space, archs, 1.0 + macs / macs.max(), "flops", cv_folds=12)
    assert good.quality["spearman"] > 0.5 and good.warnings() == []
    shuffled = 1.0 + np.random.default_rng(2).permutation(macs) / macs.max()
    poor = fit_profile("b", space, archs, shuffled, "flops", cv_folds=12)
    assert poor.quality["spearman"] < 0.5
    assert poor.warnings()[0].startswith(f"the profile ranks archs poorly (cross-validated Spearman "
                                         f"{poor.quality['spearman']:.2f} on its 12 measurements)")


def test_a_profile_edited_by_hand_is_refused_naming_the_field(ofa_sample, tmp_path):
    ds = ofa_sample
    rows = list(ds.reference) + list(range(10, 20))
    good = json.loads(fit_profile("gpu-b", ds.encoding, [ds.items[i] for i in rows], ds.column("v100_1")[rows],
                                  "flops").to_json())
    cases = [("quality", {"spearman": 0.9}, "field 'quality.mape': value None"),
             ("quality", None, "field 'quality': expected an object"),
             ("quality", "good", "field 'quality': expected an object"),
             ("quality", {"spearman": "x", "mape": 1.0, "within_10pct": 1.0}, "field 'quality.spearman': value 'x'")]
    for key, value, message in cases:
        with pytest.raises(NasedgeError, match=re.escape(f"p.json: {message}")):
            DeviceProfile.from_json(json.dumps({**good, key: value}), "p.json")
    bad = json.loads(json.dumps(good))
    bad["measurements"][3][1] = "abc"
    with pytest.raises(NasedgeError, match=re.escape("p.json: field 'measurements[3]': latency 'abc' is not valid")):
        DeviceProfile.from_json(json.dumps(bad), "p.json")
    assert DeviceProfile.from_json(json.dumps({**good, "quality": {}})).quality == {}  # too few to cross-validate
    # the fitted state is read when first used, away from the file: its error still names the file
    broken = DeviceProfile.from_json(json.dumps({**good, "state": {**good["state"], "state": {"slope": "abc"}}}),
                                     "p.json")
    assert "source" not in json.loads(broken.to_json())
    with pytest.raises(NasedgeError, match=re.escape("p.json: field 'state': predictor state is not valid for 'flops'")):
        broken.predict([ds.items[0]])


def test_as_few_measurements_as_the_predictor_needs_fit_without_cross_validation(ofa_sample):
    """Folds that would leave fewer measurements than the predictor needs are not run: the profile is fitted and says
    it could not be cross-validated, instead of failing in a fold with a count that contradicts the input."""
    from nasedge.predict.profile import check_cv_folds, cv_fits

    ds = ofa_sample
    rows = list(ds.reference)[:3]
    profile = fit_profile("gpu-c", ds.encoding, [ds.items[i] for i in rows], ds.column("v100_1")[rows], "regressor")
    assert profile.quality == {} and cv_fits(3, 20, 3) == 1 and cv_fits(4, 20, 3) == 5 and cv_fits(4, 20, 4) == 1
    for value in (0, -3, 2, True, "5"):
        with pytest.raises(NasedgeError, match=re.escape(f"predictor.cv_folds: value {value!r} is not valid; "
                                                         "expected an integer >= 3")):
            check_cv_folds(value)


def test_measurements_of_another_space_are_refused():
    """They were counted as measurements (with the reference archs allowed missing), and a str as three."""
    from nasedge.predict.profile import check_measurements

    tiny, other = get_space("ofa_mbv3_tiny"), get_space("ofa_mbv3_w1.2")
    with pytest.raises(NasedgeError, match="ofa_mbv3_w1.2"):
        check_measurements(tiny, other.sample_many(20, 0), allow_missing_reference=True)
    with pytest.raises(NasedgeError, match="archs: 'abc' is not valid; expected a list of archs"):
        check_measurements(tiny, "abc", allow_missing_reference=True)
    assert check_measurements(tiny, tiny.sample_many(20, 0), allow_missing_reference=True).measurements == 20


def test_fit_profile_refuses_an_arch_measured_twice(ofa_sample):
    """As predictor fit does: the repeat counted twice, and cross-validation predicted it from itself (0.03 % error)."""
    ds = ofa_sample
    archs, y = list(ds.items[:20]), list(ds.column(ds.devices[0])[:20])
    with pytest.raises(NasedgeError, match="measurements #1 and #21 .in order. are of the same arch"):
        fit_profile("d", ds.encoding, archs + archs[:1], y + [y[0] * 1.01], "flops", cv_folds=5)


def test_measurements_far_from_what_the_others_predict_are_named(ofa_sample):
    """Two measurements taken while the machine was busy (twice as slow): the profile's fit discounts them, and its
    warnings name them by position, so that the user can remeasure them; clean measurements give no such warning."""
    ds = ofa_sample
    rows = list(ds.reference) + list(range(10, 20))
    y = ds.column("titan_rtx_64")[rows].copy()
    clean = fit_profile("gpu", ds.encoding, [ds.items[i] for i in rows], y, "meta", cv_folds=20)
    assert clean.far_measurements == [] and not any("far from" in w for w in clean.warnings())
    y[[3, 14]] *= 2.0
    busy = fit_profile("gpu", ds.encoding, [ds.items[i] for i in rows], y, "meta", cv_folds=20)
    assert [i for i, _ in busy.far_measurements] == [4, 15] and all(r > 1.6 for _, r in busy.far_measurements)
    (warning,) = [w for w in busy.warnings() if "far from" in w]
    assert warning.startswith("2 of 20 measurements read far from what the others predict (in order, measured / "
                              "predicted: #4 ") and "#15 " in warning
    again = DeviceProfile.from_json(busy.to_json(), "p.json")  # stored and read back, it says the same
    assert again.warnings() == busy.warnings()
    y[3] /= 2 * 3000  # one reading in seconds, not milliseconds: a ratio far below 0.001, kept as such
    glitch = DeviceProfile.from_json(fit_profile("gpu", ds.encoding, [ds.items[i] for i in rows], y, "meta",
                                                 cv_folds=20).to_json(), "p.json")
    assert glitch.far_measurements[0][0] == 4 and 0 < glitch.far_measurements[0][1] < 0.001
    bad = json.loads(busy.to_json())
    bad["far_measurements"] = [[0, 2.0]]
    with pytest.raises(NasedgeError, match=re.escape("p.json: field 'far_measurements': value [[0, 2.0]] is not valid")):
        DeviceProfile.from_json(json.dumps(bad), "p.json")
