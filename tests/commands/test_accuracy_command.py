"""``nasedge accuracy sample|fit``: true accuracies of random subnets appended durably and resumed, then a
predictor fitted on them with its held-out quality printed."""

from __future__ import annotations

import json
import re

import pytest
import torch

from nasedge.predict.accuracy import load_accuracy_predictor
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, save_supernet
from tests.synthetic_data import write_dataset, write_shapes_folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(a tiny supernet with random weights, a 10-class packed dataset at 24 px)."""
    root = tmp_path_factory.mktemp("accuracy")
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), root / "supernet.pt")
    return root / "supernet.pt", write_dataset(root / "data.npz", n_train=64, n_test=40)


def _sample(nasedge_cli, tiny, out, n, *extra):
    supernet, data = tiny
    return nasedge_cli("accuracy", "sample", "--supernet", supernet, "--data", data, "-n", n, "--out", out,
                       "--device", "cpu", "data.recalibration_images=32", "data.image_size=24", *extra)


def test_sample_appends_per_arch_and_resumes(nasedge_cli, tiny, tmp_path):
    out = tmp_path / "samples.jsonl"
    r = _sample(nasedge_cli, tiny, out, 4)
    assert r.returncode == 0, r.stderr
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(first) == 4 and len({r["digest"] for r in first}) == 4
    assert {r["arch"]["resolution"] for r in first} <= {16, 20, 24}
    assert all(0 <= r["top1"] <= 100 and r["macs"] > 0 for r in first)
    assert "4 subnets evaluated" in r.stdout
    # a run killed while writing leaves a cut-off line: it is dropped and that arch evaluated again
    out.write_text(out.read_text() + first[-1]["digest"][:5])
    r = _sample(nasedge_cli, tiny, out, 6)
    assert r.returncode == 0, r.stderr
    assert "2 subnets evaluated, 4 already there" in r.stdout
    assert r.stdout.splitlines()[0] == f"{out}: resuming: 4 of the 6 subnets are there, 2 to evaluate"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["digest"] for x in rows[:4]] == [x["digest"] for x in first] and len(rows) == 6
    # a bad value on resume is named as such, not as "a result of another data" in --out
    r = _sample(nasedge_cli, tiny, out, 6, "data.limit_test=-5")
    assert r.returncode == 2 and "limit_test" in r.stderr and "-5" in r.stderr and "another" not in r.stderr


def test_sample_shows_the_batches_of_the_arch_in_flight(nasedge_cli, tiny, tmp_path, line_per_update):
    """sample showed no progress at all: -n 1 printed nothing until its arch was done (minutes on a CPU). The arch in
    flight counts as its share of its images, per batch, in plain lines on stderr (not a terminal)."""
    r = _sample(nasedge_cli, tiny, tmp_path / "s.jsonl", 1, "data.recalibration_batch_size=16", "--batch-size", 16)
    assert r.returncode == 0, r.stderr
    done = [line.split(",")[0] for line in r.stderr.splitlines() if line.startswith("sample: ")]
    # 32 recalibration images in 2 batches, then 40 test images in 3: 72 in all
    assert done == [f"sample: {n}/1 archs" for n in ("0", "0", "0.2", "0.4", "0.7", "0.9", "1")]
    assert "1 subnets evaluated" in r.stdout and "\x1b" not in r.stderr


def test_sample_refuses_data_of_another_class_count(nasedge_cli, tiny, tmp_path):
    folder = write_shapes_folder(tmp_path / "shapes", per_class=1, test_per_class=1, size=32)
    r = nasedge_cli("accuracy", "sample", "--supernet", tiny[0], "--data", folder, "-n", 2, "--out",
                    tmp_path / "s.jsonl", "--device", "cpu")
    assert r.returncode == 2
    assert "has 10 classes, the data" in r.stderr and "has 7" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "s.jsonl").exists() or not (tmp_path / "s.jsonl").read_text()


def test_fit_prints_held_out_quality_and_writes_a_loadable_predictor(nasedge_cli, tmp_path):
    space = get_space("ofa_mbv3_tiny")
    archs = space.sample_many(40, 3)
    # a learnable relation: accuracy grows with depth and resolution
    with open(tmp_path / "s.jsonl", "w") as f:
        for a in archs:
            f.write(json.dumps({"arch": a.to_dict(), "top1": 50 + 3 * sum(a.depth) + a.resolution / 4}) + "\n")
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert len(report["splits"]) == 3 and all(s["held_out"] == 8 for s in report["splits"])
    assert report["held_out_spearman"] > 0.8 and report["held_out_rmse"] < 3
    predictor = load_accuracy_predictor(tmp_path / "acc.json")
    assert predictor.space.name == "ofa_mbv3_tiny" and predictor.meta["samples"] == 40
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc2.json")
    assert "held-out RMSE" in r.stdout and "Spearman" in r.stdout


def test_fit_reports_no_spearman_of_too_few_held_out(nasedge_cli, tmp_path):
    """15 samples held out 3 per split, whose Spearman rho is one of four values: it was printed as a quality."""
    archs = get_space("ofa_mbv3_tiny").sample_many(15, 3)
    with open(tmp_path / "s.jsonl", "w") as f:
        for a in archs:
            f.write(json.dumps({"arch": a.to_dict(), "top1": 50 + 3 * sum(a.depth) + a.resolution / 4}) + "\n")
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json", "--json")
    report = json.loads(r.stdout)
    assert all(s["held_out"] == 3 and s["spearman"] is None for s in report["splits"])
    assert report["held_out_spearman"] is None and report["held_out_rmse"] > 0
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json", "--held-out", "0.34")
    assert r.returncode == 0 and "held out 5: RMSE" in r.stdout and "no Spearman" not in r.stdout
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json")
    assert "no Spearman (it needs 5 held out per split" in r.stdout


@pytest.mark.parametrize("flag, value, message", [("--held-out", "1.5", "--held-out: value 1.5 is not valid"),
                                                   ("--splits", "0", "--splits: value 0 is not valid")])
def test_fit_names_the_bad_option(nasedge_cli, tmp_path, flag, value, message):
    a = get_space("ofa_mbv3_tiny").max_arch()
    (tmp_path / "s.jsonl").write_text(json.dumps({"arch": a.to_dict(), "top1": 50.0}) + "\n")
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json", flag, value)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_fit_with_too_few_samples_is_one_line(nasedge_cli, tmp_path):
    a = get_space("ofa_mbv3_tiny").max_arch()
    (tmp_path / "s.jsonl").write_text(json.dumps({"arch": a.to_dict(), "top1": 50.0}) + "\n")
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json")
    assert r.returncode == 2 and "too few" in r.stderr and not (tmp_path / "acc.json").exists()


@pytest.mark.parametrize("record, message", [
    ({"top1": float("nan")}, r"s.jsonl:2: field 'top1': value nan is not valid; expected a top-1 accuracy"),
    ({"top1": -500}, r"s.jsonl:2: field 'top1': value -500 is not valid"),
    ({"top1": "high"}, r"s.jsonl:2: field 'top1': value 'high' is not valid"),
    ({"arch": None}, r"s.jsonl:2: field 'top1': missing"),
    ({"top1": 50.0, "arch": "max"}, r"s.jsonl:2: field 'arch': value 'max' is not valid; expected an arch object"),
    ({"top1": 50.0, "arch": {**get_space("ofa_mbv3_tiny").max_arch().to_dict(), "space": "nope"}},
     r"s.jsonl:2: unknown search space 'nope'"),
    ({"top1": 50.0, "arch": {**get_space("ofa_mbv3_tiny").max_arch().to_dict(), "kernel": [9] * 6}},
     r"s.jsonl:2: field 'kernel\[0\]': value 9 is not allowed"),
    ({"top1": 51.0}, r"s.jsonl:2: the arch of .*s.jsonl:1 again; keep one sample per arch"),
    ({"top1": 50.0, "arch": get_space("ofa_mbv3_tiny").min_arch().to_dict(), "context": {"supernet": "b"}},
     r"s.jsonl:2: a sample of another supernet or data than .*s.jsonl:1's"),
])
def test_fit_names_a_bad_sample(nasedge_cli, tmp_path, record, message):
    a = get_space("ofa_mbv3_tiny").max_arch().to_dict()
    good = {"arch": a, "top1": 50.0, "context": {"supernet": "a"}}
    bad = {**good, **record}
    if bad.get("arch") is None:
        bad = {"arch": a}
    with open(tmp_path / "s.jsonl", "w") as f:
        f.write(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    r = nasedge_cli("accuracy", "fit", tmp_path / "s.jsonl", "--out", tmp_path / "acc.json")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.search(message, r.stderr), r.stderr


def test_a_predictor_file_edited_by_hand_is_refused_naming_the_field(tmp_path):
    from nasedge.errors import NasedgeError
    from nasedge.predict.accuracy import AccuracyPredictor

    space = get_space("ofa_mbv3_tiny")
    archs = space.sample_many(12, 0)
    AccuracyPredictor(space).fit(archs, [50.0 + i for i in range(12)]).save(tmp_path / "ap.json")
    good = json.loads((tmp_path / "ap.json").read_text())
    cases = [({"data": None}, "field 'data': value None is not valid"),
             ({"params": None}, "field 'params': value None is not valid"),
             ({"params": {"foo": 1}}, "field 'params': unknown accuracy-predictor option 'foo'"),
             ({"params": {"max_iter": "x"}}, "field 'params': "),
             ({"data": [{**good["data"][0], "top1": "x"}]}, "field 'data[0].top1': value 'x' is not valid"),
             ({"data": [{"top1": 50.0, "arch": {}}] * 12}, "data[0]")]
    for change, message in cases:
        (tmp_path / "bad.json").write_text(json.dumps({**good, **change}))
        with pytest.raises(NasedgeError, match=re.escape(f"{tmp_path / 'bad.json'}: ") + ".*" + re.escape(message)):
            load_accuracy_predictor(tmp_path / "bad.json")


def test_ray_workers_give_the_same_samples(nasedge_cli, tiny, tmp_path, ray_cluster):
    local, remote = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert _sample(nasedge_cli, tiny, local, 3).returncode == 0
    r = _sample(nasedge_cli, tiny, remote, 3, "--workers", "2")
    assert r.returncode == 0, r.stderr
    rows = {x["digest"]: x for x in map(json.loads, remote.read_text().splitlines())}
    assert {x["where"] for x in rows.values()} == {"ray"}
    for x in map(json.loads, local.read_text().splitlines()):
        assert rows[x["digest"]]["top1"] == pytest.approx(x["top1"], abs=1e-6)
