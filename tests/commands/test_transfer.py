"""Transfer to the user's classes, end to end through the CLI: an OFA-format checkpoint (a supernet built by the
``ofa`` package) -> ``nasedge import ofa`` -> ``nasedge train`` on a generated 7-class ImageFolder at 160 px with
``train.init_from`` (a new head, one short phase of progressive shrinking) -> ``nasedge accuracy sample`` ->
``nasedge accuracy fit`` -> ``nasedge specialize`` with the fitted predictor, evaluated on the folder.

About 20 s of CPU (one loaded core), so in the default suite; its pieces are tested on their own in
tests/train/test_new_head.py, tests/commands/test_accuracy_command.py, tests/specialize/test_evaluation_data.py
and tests/data/test_imagenet_pipeline.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.synthetic_data import write_shapes_folder

pytest.importorskip("ofa")

DATA = ["data.image_size=160", "data.recalibration_images=14", "data.recalibration_batch_size=14", "data.decode=cpu"]


def test_import_new_head_fine_tune_sample_fit_specialize(nasedge_cli, tmp_path):
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3

    torch.manual_seed(0)
    net = OFAMobileNetV3(n_classes=1000, dropout_rate=0.1, width_mult=1.0, ks_list=[3, 5, 7],
                         expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    torch.save({"state_dict": net.state_dict()}, tmp_path / "ofa_w1.0.pth")  # how OFA publishes its supernets
    folder = write_shapes_folder(tmp_path / "shapes", per_class=2, test_per_class=2, size=160)

    r = nasedge_cli("import", "ofa", tmp_path / "ofa_w1.0.pth", "--out", tmp_path / "imported.pt")
    assert r.returncode == 0, r.stderr

    phase = ("train.phases=[{name: expand, epochs: 1, lr: 0.02, subnets_per_step: 2, sandwich: true, "
             "kd_weight: 1.0, resolution: [128, 160]}]")
    r = nasedge_cli("train", "search_space=ofa_mbv3_w1.0", "train=tiny", phase, "train.batch_size=7",
                    f"train.init_from={tmp_path / 'imported.pt'}", f"train.out_dir={tmp_path / 'run'}",
                    "data=image_folder", f"data.path={folder}", *DATA)
    assert r.returncode == 0, r.stderr
    head = [line for line in r.stdout.splitlines() if line.startswith("new classifier head")]
    assert len(head) == 1 and "1000 classes -> 7 classes" in head[0] and "Linear 1280 -> 7" in head[0]
    supernet = tmp_path / "run" / "supernet.pt"

    r = nasedge_cli("accuracy", "sample", "--supernet", supernet, "--data", folder, "-n", 12,
                    "--out", tmp_path / "samples.jsonl", "--device", "cpu", *DATA)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {x["arch"]["space"] for x in rows} == {"ofa_mbv3_w1.0"}
    assert all(128 <= x["arch"]["resolution"] <= 224 and 0 <= x["top1"] <= 100 for x in rows)

    r = nasedge_cli("accuracy", "fit", tmp_path / "samples.jsonl", "--out", tmp_path / "acc.json")
    assert r.returncode == 0, r.stderr
    assert "held-out RMSE" in r.stdout and "Spearman" in r.stdout

    r = nasedge_cli("specialize", "--device", "titan_rtx_64", "--latency", "30ms", "--supernet", supernet,
                    "--accuracy-predictor", tmp_path / "acc.json", "--data", folder, "--out", tmp_path / "out",
                    "specialize.evaluation=local", "specialize.formats=[torch]", "search.max_evaluations=40",
                    "specialize.top_k=1", "specialize.recalibration_images=null", *DATA)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["accuracy_predictor"] == str(tmp_path / "acc.json") and m["supernet"]["space"] == "ofa_mbv3_w1.0"
    assert m["accuracy"]["predicted_only"] is False and m["accuracy"]["test_images"] == 14
    assert m["accuracy"]["recalibration_images"] == 14  # the data's, as the null says
    assert (tmp_path / "out" / "subnet.pt").stat().st_size > 0
