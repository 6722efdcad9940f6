"""Tiny supernet training on CPU: every phase runs, accuracy rises, stops and kills resume exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.supernet import load_supernet
from nasedge.train import load_checkpoint, train_from_config

from tests.synthetic_data import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=320, n_test=100)


def overrides(dataset, out_dir, *extra):
    return ["search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={dataset}", "data.image_size=24",
            "data.recalibration_images=64", "data.recalibration_batch_size=32", f"train.out_dir={out_dir}", *extra]


def state_of(out_dir):
    return load_supernet(Path(out_dir) / "supernet.pt").state_dict()


def test_all_phases_run_and_learn(dataset, tmp_path):
    result = train_from_config(compose(overrides(dataset, tmp_path / "run")), log=lambda *_: None)
    assert result.finished
    phases = [m["phase"] for m in result.metrics]
    assert phases == ["full", "full", "kernel", "depth", "expand"]
    assert result.metrics[-1]["top1_max"] > 20 and result.metrics[-1]["top1_min"] > 20  # chance is 10 %
    assert (tmp_path / "run" / "supernet_fp16.pt").stat().st_size < (tmp_path / "run" / "supernet.pt").stat().st_size
    # a finished run is not retrained
    again = train_from_config(compose(overrides(dataset, tmp_path / "run")), log=lambda *_: None)
    assert again.finished and len(again.metrics) == 5


def test_time_budget_stop_and_resume_is_exact(dataset, tmp_path):
    reference = train_from_config(compose(overrides(dataset, tmp_path / "ref")), log=lambda *_: None)
    # tiny budgets: each invocation stops after a step or two, at a mid-epoch checkpoint
    stops = 0
    for _ in range(200):
        r = train_from_config(compose(overrides(dataset, tmp_path / "cut", "train.max_minutes=0.004")),
                              log=lambda *_: None)
        if r.finished:
            break
        stops += 1
    assert stops >= 3
    assert [m["top1_max"] for m in r.metrics] == [m["top1_max"] for m in reference.metrics]
    a, b = state_of(tmp_path / "ref"), state_of(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_config(dataset, tmp_path):
    train_from_config(compose(overrides(dataset, tmp_path / "r", "train.max_minutes=0.01")), log=lambda *_: None)
    with pytest.raises(NasedgeError, match="train.batch_size differs"):
        train_from_config(compose(overrides(dataset, tmp_path / "r", "train.batch_size=16")), log=lambda *_: None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_from_its_last_checkpoint(dataset, tmp_path, sig):
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "nasedge.cli", "train", *overrides(dataset, out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    manifest = out / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (manifest.exists() and json.loads(manifest.read_text())["sequence"] >= 1):
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(sig)
    proc.wait(timeout=120)
    position = load_checkpoint(out / "checkpoint")["position"]
    assert (position["phase"], position["epoch"]) >= (0, 2) or position["step"] > 0 or sig == signal.SIGKILL
    r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout
    train_from_config(compose(overrides(dataset, tmp_path / "ref")), log=lambda *_: None)
    a, b = state_of(tmp_path / "ref"), state_of(out)
    assert all(torch.equal(a[k], b[k]) for k in a)
