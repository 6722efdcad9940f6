"""OFA's published accuracy predictor as a nasedge accuracy predictor: same outputs as OFA's tutorial code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nasedge.errors import NasedgeError
from nasedge.predict import ofa_accuracy
from nasedge.predict.accuracy import ACCURACY_PREDICTORS, BaseAccuracyPredictor, load_accuracy_predictor
from nasedge.predict.ofa_accuracy import OFAAccuracyPredictor
from nasedge.spaces import get_space


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """OFA's tutorial predictor with random weights and its file as OFA publishes it (a bare state dict)."""
    pytest.importorskip("ofa")
    from tests.supernet.ofa_reference import ofa_tutorial_accuracy_predictor

    predictor = ofa_tutorial_accuracy_predictor()
    path = tmp_path_factory.mktemp("ofa") / "acc_predictor.pth"
    torch.save(predictor.model.state_dict(), path)
    return predictor, path


def test_agrees_with_ofa_on_1000_archs(tutorial):
    from tests.supernet.ofa_reference import ofa_tutorial_population

    reference, path = tutorial
    predictor = load_accuracy_predictor(path)
    assert isinstance(predictor, OFAAccuracyPredictor) and predictor.space.name == "ofa_mbv3_w1.2"
    archs = get_space("ofa_mbv3_w1.2").sample_many(1000, 0)
    expected = reference.predict_accuracy(ofa_tutorial_population(archs)).numpy()[:, 0]
    assert np.abs(predictor.predict(archs) / 100 - expected).max() < 1e-5  # OFA's output is a fraction
    features = torch.stack([reference.spec2feats(s["ks"], s["e"], s["d"], s["r"][0])
                            for s in ofa_tutorial_population(archs[:50])]).numpy()
    np.testing.assert_array_equal(predictor.features(archs[:50]), features)


def test_json_form_is_exact_and_keeps_provenance(tutorial, tmp_path):
    _, path = tutorial
    predictor = OFAAccuracyPredictor.from_ofa_file(path)
    assert predictor.meta["source"] == "acc_predictor.pth" and len(predictor.meta["source_sha256"]) == 64
    predictor.save(tmp_path / "accuracy_predictor.json")
    again = load_accuracy_predictor(tmp_path / "accuracy_predictor.json")
    archs = get_space("ofa_mbv3_w1.2").sample_many(100, 1)
    np.testing.assert_array_equal(again.predict(archs), predictor.predict(archs))
    assert again.meta == predictor.meta
    assert json.loads((tmp_path / "accuracy_predictor.json").read_text())["format"] == ofa_accuracy.FORMAT


def test_registry_names_both_implementations():
    assert ofa_accuracy.FORMAT in ACCURACY_PREDICTORS
    assert issubclass(OFAAccuracyPredictor, BaseAccuracyPredictor)


def _random_tensors(**override) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tensors = {k: rng.normal(size=s).astype(np.float32) for k, s in ofa_accuracy.SHAPES.items()}
    return {**tensors, **override}


def test_wrong_weights_and_spaces_are_one_line_errors(tmp_path):
    space = get_space("ofa_mbv3_w1.2")
    with pytest.raises(NasedgeError, match=r"0.weight has shape \(400, 127\), expected \(400, 128\)"):
        OFAAccuracyPredictor(space, _random_tensors(**{"0.weight": np.zeros((400, 127), np.float32)}))
    with pytest.raises(NasedgeError, match="missing tensor 6.bias"):
        OFAAccuracyPredictor(space, {k: v for k, v in _random_tensors().items() if k != "6.bias"})
    bias = np.zeros(1, np.float32)
    bias[0] = np.nan
    with pytest.raises(NasedgeError, match="tensor 6.bias holds NaN or infinite values"):
        OFAAccuracyPredictor(space, _random_tensors(**{"6.bias": bias}))
    with pytest.raises(NasedgeError, match="unexpected tensor 8.weight"):
        OFAAccuracyPredictor(space, _random_tensors(**{"8.weight": np.zeros(1, np.float32)}))
    with pytest.raises(NasedgeError, match="does not fit search space 'ofa_mbv3_cifar'"):
        OFAAccuracyPredictor(get_space("ofa_mbv3_cifar"), _random_tensors())
    torch.save({"layers.0.0.weight": torch.zeros(400, 128)}, tmp_path / "other.pth")
    with pytest.raises(NasedgeError, match="other.pth: not OFA's accuracy predictor: missing tensor 0.weight"):
        load_accuracy_predictor(tmp_path / "other.pth")
    (tmp_path / "other.json").write_text('{"format": "something/1"}')
    with pytest.raises(NasedgeError, match="other.json: not a nasedge accuracy predictor"):
        load_accuracy_predictor(tmp_path / "other.json")


def test_import_writes_the_predictor_beside_the_supernet(tutorial, tmp_path, capsys):
    pytest.importorskip("ofa")
    from nasedge.cli import main
    from nasedge.specialize.flow import _accuracy_predictor_path, _load_accuracy_predictor
    from tests.supernet.ofa_reference import ofa_reference_supernet, save_ofa_checkpoint

    _, acc_path = tutorial
    net = ofa_reference_supernet("ofa_mbv3_w1.2", calibration_batches=1)
    checkpoint = save_ofa_checkpoint(net, tmp_path / "ofa.pth")
    out = tmp_path / "imported" / "supernet.pt"
    assert main(["import", "ofa", str(checkpoint), "--accuracy-predictor", str(acc_path), "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accuracy_predictor"] == str(out.parent / "accuracy_predictor.json")
    # what `nasedge specialize --supernet imported/supernet.pt` finds and loads
    found = _accuracy_predictor_path(str(out), {}, out)
    assert isinstance(_load_accuracy_predictor(found, "ofa_mbv3_w1.2"), OFAAccuracyPredictor)
    with pytest.raises(NasedgeError, match="accuracy predictor is for space 'ofa_mbv3_w1.2'"):
        _load_accuracy_predictor(found, "ofa_mbv3_w1.0")
