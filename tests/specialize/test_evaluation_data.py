"""The final evaluation runs on data of the supernet's classes: an imported 1000-class supernet is never scored
on CIFAR-10 (it was: 0 %). Without matching data the accuracy is predicted only and the report says so; data
given with another class count is a one-line error; matching data given with --data is evaluated on."""

from __future__ import annotations

import json

import pytest
import torch

from nasedge.config import data_overrides
from nasedge.predict.accuracy import AccuracyPredictor
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, file_digest, save_supernet
from tests.synthetic_data import write_dataset, write_shapes_folder

FAST = ["specialize.evaluation=local", "specialize.formats=[torch]", "search.max_evaluations=40",
        "specialize.top_k=2"]


def _supernet(root, classes: int):
    """A tiny supernet of ``classes`` classes with an accuracy predictor beside it."""
    space = get_space("ofa_mbv3_tiny")
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_supernet(build_supernet(space, classes), root / "supernet.pt")
    archs = space.sample_many(12, 0)
    AccuracyPredictor(space).fit(archs, [40 + sum(a.depth) + a.resolution / 8 for a in archs]).save(
        root / "accuracy_predictor.json")
    return root / "supernet.pt"


def _specialize(nasedge_cli, supernet, out, *extra):
    return nasedge_cli("specialize", "--device", "titan_rtx_64", "--latency", "100ms", "--supernet", supernet,
                       "--out", out, *FAST, *extra)


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    return _supernet(tmp_path_factory.mktemp("imported"), 1000)


def test_without_matching_data_the_accuracy_is_predicted_only(nasedge_cli, imagenet_like, tmp_path):
    r = _specialize(nasedge_cli, imagenet_like, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["accuracy"]["measured_top1"] is None and m["accuracy"]["predicted_only"] is True
    assert "1000 classes" in m["accuracy"]["evaluated_on"] and "has 10" in m["accuracy"]["evaluated_on"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "accuracy is predicted only" in report and "0.00 %" not in report
    # the file carries the supernet's BatchNorm statistics, not its own: the report says what to do first
    assert "**Before deployment**, recalibrate the exported subnet's BatchNorm statistics" in report
    assert "top-1 not evaluated" in r.stderr
    assert (tmp_path / "out" / "subnet.pt").stat().st_size > 0
    # the data configured here is not the supernet's: how to feed the file is not known here, and said so
    assert "mean" not in m["input"] and "not known here: specialize with --data" in m["input"]["preprocess"]


def test_several_budgets_of_picks_whose_accuracy_is_predicted_only_are_written(nasedge_cli, imagenet_like, tmp_path):
    """The combined report formatted the missing top-1 as a number: a traceback at the very end, every pick lost."""
    out = tmp_path / "out"
    r = nasedge_cli("specialize", "--device", "titan_rtx_64", "--latency", "50ms,100ms", "--supernet", imagenet_like,
                    "--out", out, *FAST)
    assert r.returncode == 0, r.stderr
    top = json.loads((out / "manifest.json").read_text())
    assert [p["accuracy"]["measured_top1"] for p in top["picks"]] == [None, None]
    assert (out / "report.md").read_text().count("| not evaluated (predicted only) |") == 2
    digests = {p["files"]["torch"]["name"]: p["files"]["torch"]["sha256"] for p in top["picks"]}
    assert digests == {f"{b}/subnet.pt": file_digest(out / b / "subnet.pt") for b in ("50ms", "100ms")}
    for budget in ("50ms", "100ms"):
        assert (out / budget / "subnet.pt").stat().st_size > 0
        assert "accuracy is predicted only" in (out / budget / "report.md").read_text()


def test_given_data_of_another_class_count_is_one_line(nasedge_cli, imagenet_like, tmp_path):
    data = write_dataset(tmp_path / "cifar_like.npz", n_train=20, n_test=10)
    for flags in (["--data", str(data)], [f"data.path={data}"]):
        r = _specialize(nasedge_cli, imagenet_like, tmp_path / "out", *flags)
        assert r.returncode == 2
        line = r.stderr.strip().splitlines()[-1]
        assert "the supernet has 1000 classes, the evaluation data" in line and "has 10" in line
        assert not (tmp_path / "out" / "manifest.json").exists()


def test_matching_data_given_is_evaluated_on(nasedge_cli, tmp_path):
    supernet = _supernet(tmp_path / "seven", 7)
    folder = write_shapes_folder(tmp_path / "shapes", per_class=2, test_per_class=2, size=40)
    r = _specialize(nasedge_cli, supernet, tmp_path / "out", "--data", folder, "data.image_size=28")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["accuracy"]["predicted_only"] is False and m["accuracy"]["test_images"] == 14
    assert 0.0 <= m["accuracy"]["measured_top1"] <= 100.0
    # the pick's files and how to feed them, as `nasedge export` of the arch on that data says (it said the names)
    assert m["files"] == {"torch": {"name": "subnet.pt", "sha256": file_digest(tmp_path / "out" / "subnet.pt")}}
    (tmp_path / "pick.json").write_text(json.dumps(m["arch"]))
    r = nasedge_cli("export", "--arch", tmp_path / "pick.json", "--supernet", supernet, "--format", "torch", "--out",
                    tmp_path / "exported", *data_overrides(str(folder)), "data.image_size=28")
    assert r.returncode == 0, r.stderr
    exported = json.loads((tmp_path / "exported" / "manifest.json").read_text())
    assert m["input"] == exported["input"] and m["input"]["mean"] == [0.485, 0.456, 0.406]
