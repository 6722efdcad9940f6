"""``nasedge eval``: top-1 of subnets of a supernet, refused in one line on data of another class count."""

from __future__ import annotations

import json

import pytest
import torch

from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, save_supernet
from tests.synthetic_data import write_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 10-class packed dataset at 24 px."""
    return write_dataset(tmp_path_factory.mktemp("eval") / "data.npz", n_train=64, n_test=40)


def _eval(nasedge_cli, supernet, data, *extra):
    return nasedge_cli("eval", "--arch", "max", "--supernet", supernet, "--device", "cpu", "data=cifar10",
                       f"data.path={data}", "data.image_size=24", "data.recalibration_images=32", *extra)


def test_eval_refuses_data_of_another_class_count(nasedge_cli, data, tmp_path):
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny"), 3), tmp_path / "three.pt")
    r = _eval(nasedge_cli, tmp_path / "three.pt", data, "--out", tmp_path / "acc.jsonl")
    assert r.returncode == 2
    assert f"supernet {tmp_path / 'three.pt'} has 3 classes, the data {data} has 10" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "top-1" not in r.stdout
    assert not (tmp_path / "acc.jsonl").exists()


def test_eval_of_the_data_s_class_count_runs(nasedge_cli, data, tmp_path):
    torch.manual_seed(0)
    save_supernet(build_supernet(get_space("ofa_mbv3_tiny")), tmp_path / "ten.pt")
    r = _eval(nasedge_cli, tmp_path / "ten.pt", data, "--json")
    assert r.returncode == 0, r.stderr
    assert 0 <= json.loads(r.stdout.splitlines()[-1])["top1"] <= 100
