"""Tiny supernet training on CPU: every phase runs, accuracy rises, stops and kills resume exactly."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
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
from nasedge.train import load_checkpoint, save_checkpoint, train_from_config
from nasedge.train.checkpoint import has_checkpoint

from tests.synthetic_data import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=320, n_test=100)


def overrides(dataset, out_dir, *extra):
    return ["search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={dataset}", "data.image_size=24", "data.cutout=0",
            "data.recalibration_images=64", "data.recalibration_batch_size=32", f"train.out_dir={out_dir}", *extra]


def state_of(out_dir):
    return load_supernet(Path(out_dir) / "supernet.pt").state_dict()


@pytest.fixture(scope="module")
def reference_run(dataset, tmp_path_factory):
    """One uninterrupted run of the tiny config: its result, its folder, and each epoch line it logged with the
    epochs its checkpoint held at that moment."""
    out = tmp_path_factory.mktemp("reference") / "run"
    epoch_lines = []

    def log(line: str) -> None:
        if line.startswith("{"):
            written = has_checkpoint(out / "checkpoint")
            epoch_lines.append((json.loads(line), len(load_checkpoint(out / "checkpoint")["metrics"]) if written else 0))

    return train_from_config(compose(overrides(dataset, out)), log=log), out, epoch_lines


@pytest.fixture(scope="module")
def reference(reference_run):
    """The uninterrupted run's result and folder, shared by the tests that compare with it."""
    return reference_run[:2]


def test_an_epoch_is_said_done_once_its_checkpoint_is_written(reference_run):
    # the line came before the checkpoint: a run killed in between redid an epoch the log called done
    result, _, epoch_lines = reference_run
    assert [record for record, _ in epoch_lines] == result.metrics
    assert [checkpointed for _, checkpointed in epoch_lines] == list(range(1, len(result.metrics) + 1))


def test_all_phases_run_and_learn(dataset, reference):
    result, run = reference
    assert result.finished
    phases = [m["phase"] for m in result.metrics]
    assert phases == ["full", "full", "kernel", "depth", "expand"]
    assert result.metrics[-1]["top1_max"] > 20 and result.metrics[-1]["top1_min"] > 20  # chance is 10 %
    assert (run / "supernet_fp16.pt").stat().st_size < (run / "supernet.pt").stat().st_size
    # a finished run is not retrained
    again = train_from_config(compose(overrides(dataset, run)), log=lambda *_: None)
    assert again.finished and len(again.metrics) == 5


@pytest.mark.parametrize("kept", [[], ["supernet.pt"]])
def test_a_finished_run_without_its_final_files_writes_them_from_the_checkpoint(dataset, tmp_path, reference, kept):
    # what a kill after the last checkpoint leaves (inside the final writes: none of them, or the first one);
    # the same as a user who deleted them
    ref_dir, run = reference[1], tmp_path / "run"
    shutil.copytree(ref_dir / "checkpoint", run / "checkpoint")
    for name in kept:
        shutil.copy(ref_dir / name, run / name)
    lines = []
    again = train_from_config(compose(overrides(dataset, run)), log=lines.append, progress=False)
    assert again.finished and again.metrics == reference[0].metrics
    missing = ", ".join(n for n in ("supernet.pt", "supernet_fp16.pt") if n not in kept)
    assert any(f"training already finished, but {missing} " in line and "writing the final weights" in line
               for line in lines), lines
    for name in ("supernet.pt", "supernet_fp16.pt"):
        a, b = load_supernet(ref_dir / name), load_supernet(run / name)
        assert a.meta["metrics"] == b.meta["metrics"]
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    lines.clear()
    train_from_config(compose(overrides(dataset, run)), log=lines.append, progress=False)
    assert f"{run}: training already finished" in lines


def test_final_files_written_again_name_the_data_the_run_was_trained_on(dataset, tmp_path, reference):
    """A finished run rerun with another data.path loads no data (nothing checks it): the final files it writes
    again keep the checkpoint's configuration, not one naming data the weights never saw."""
    ref_dir, run = reference[1], tmp_path / "run"
    shutil.copytree(ref_dir / "checkpoint", run / "checkpoint")
    shutil.copy(ref_dir / "supernet_fp16.pt", run / "supernet_fp16.pt")
    elsewhere = shutil.copy(dataset, tmp_path / "elsewhere.npz")
    assert train_from_config(compose(overrides(elsewhere, run)), log=lambda *_: None, progress=False).finished
    config = load_supernet(run / "supernet.pt").meta["config"]
    assert config["data"]["path"] == str(dataset) and config == load_checkpoint(run / "checkpoint")["config"]


@pytest.mark.parametrize("kept, old", [(["supernet.pt", "supernet_fp16.pt"], False), (["supernet.pt"], False),
                                       (["supernet.pt"], True)])
def test_a_finished_run_says_so_without_loading_the_data(dataset, tmp_path, reference, monkeypatch, kept, old):
    """The whole dataset was decoded (minutes at scale) before "training already finished"; the final weights a
    run lacks come from the checkpoint, with its class count (``old``: a checkpoint without it, the data's)."""
    import nasedge.train.progressive_shrinking as trainer

    ref_dir, run = reference[1], tmp_path / "run"
    shutil.copytree(ref_dir / "checkpoint", run / "checkpoint")
    for name in kept:
        shutil.copy(ref_dir / name, run / name)
    if old:
        state = load_checkpoint(run / "checkpoint")
        del state["num_classes"]
        save_checkpoint(run / "checkpoint", state)
    monkeypatch.setattr(trainer, "load_dataset", lambda *_: pytest.fail("the data was loaded"))
    lines = []
    again = train_from_config(compose(overrides(dataset, run)), log=lines.append, progress=False)
    assert again.finished and again.metrics == reference[0].metrics
    if len(kept) == 2:
        assert lines[1:] == [f"{run}: training already finished"], lines
    else:
        assert "writing the final weights" in lines[1] and lines[2].startswith("training finished"), lines
    a, b = load_supernet(ref_dir / "supernet_fp16.pt"), load_supernet(run / "supernet_fp16.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("entry, kind", [("checkpoint", "file"), ("supernet.pt", "folder")])
def test_an_output_held_by_the_other_kind_is_refused_before_training(dataset, tmp_path, entry, kind):
    run = tmp_path / "run"
    run.mkdir()
    (run / entry).mkdir() if kind == "folder" else (run / entry).write_text("x")
    lines = []
    with pytest.raises(NasedgeError, match=f"{run / entry} is a {kind} where the run"):
        train_from_config(compose(overrides(dataset, run)), log=lines.append, progress=False)
    assert not any("epoch" in line for line in lines)  # refused before any training


def test_time_budget_stop_and_resume_is_exact(dataset, tmp_path, reference):
    reference, ref_dir = reference
    # tiny budgets: each invocation stops after a step or two, at a mid-epoch checkpoint
    stops = 0
    cut = compose(overrides(dataset, tmp_path / "cut", "train.max_minutes=0.004"))  # each invocation starts afresh from it
    for _ in range(200):
        r = train_from_config(cut, log=lambda *_: None)
        if r.finished:
            break
        stops += 1
        # readable while the run goes on (written with each checkpoint): what it has measured so far
        assert json.loads((tmp_path / "cut" / "metrics.json").read_text()) == r.metrics
    assert stops >= 3
    assert [m["top1_max"] for m in r.metrics] == [m["top1_max"] for m in reference.metrics]
    # an epoch's loss averages all its steps, those before each resume too (its running sums are in the checkpoint)
    losses = [m["loss"] for m in reference.metrics]
    assert [m["loss"] for m in r.metrics] == losses
    assert [m["loss"] for m in json.loads((tmp_path / "cut" / "metrics.json").read_text())] == losses
    assert load_supernet(tmp_path / "cut" / "supernet.pt").meta["metrics"]["loss"] == losses[-1]
    a, b = state_of(ref_dir), state_of(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_without_the_epochs_running_loss_still_resumes(dataset, tmp_path):
    # checkpoints written before the running loss was stored: the epoch's loss averages the steps since the resume
    cfg = compose(overrides(dataset, tmp_path / "old", "train.max_minutes=1e-9"))
    assert not train_from_config(cfg, log=lambda *_: None).finished
    state = load_checkpoint(tmp_path / "old" / "checkpoint")
    assert state["epoch_loss"]["steps"] == 1
    del state["epoch_loss"]
    save_checkpoint(tmp_path / "old" / "checkpoint", state)
    r = train_from_config(compose(overrides(dataset, tmp_path / "old")), log=lambda *_: None)
    assert r.finished and len(r.metrics) == 5 and all(math.isfinite(m["loss"]) for m in r.metrics)


def test_resume_refuses_a_different_config_before_the_data_loads(dataset, tmp_path):
    train_from_config(compose(overrides(dataset, tmp_path / "r", "train.max_minutes=0.01")), log=lambda *_: None)
    lines = []
    with pytest.raises(NasedgeError, match=r"checkpoint was made with a different configuration \(train.batch_size: "
                                           r"16 against 32 in the checkpoint\); use another train.out_dir$"):
        train_from_config(compose(overrides(dataset, tmp_path / "r", "train.batch_size=16")), log=lines.append)
    assert not any(line.startswith("loading ") for line in lines)  # minutes at ImageNet scale, for nothing


def test_resume_takes_the_same_data_under_another_path_and_refuses_other_data(dataset, tmp_path, monkeypatch):
    """data.path relative then absolute, or the file moved, is the same data (it was refused: "data.path differs");
    other data under any path is refused once loaded, naming how it differs."""
    monkeypatch.chdir(dataset.parent)
    run = tmp_path / "r"
    budget = "train.max_minutes=1e-9"  # one step per invocation
    assert not train_from_config(compose(overrides(Path(dataset.name), run, budget)), log=lambda *_: None).finished
    moved = shutil.copy(dataset, tmp_path / "moved.npz")
    for path in (dataset, moved):
        lines = []
        assert not train_from_config(compose(overrides(path, run, budget)), log=lines.append, progress=False).finished
        assert any(line.startswith("resumed from ") for line in lines), lines
    assert load_checkpoint(run / "checkpoint")["position"]["step"] == 3
    for other, what in ((write_dataset(tmp_path / "bigger.npz", n_train=352, n_test=100), "352 training images "
                         "against 320"), (write_dataset(tmp_path / "small.npz", n_train=320, n_test=100, size=16),
                                          "other images")):
        with pytest.raises(NasedgeError, match=rf"^data.path {other}: other data than the checkpoint in {run}/"
                                               rf"checkpoint was trained on \({what}\); give the data it was "
                                               rf"trained on, or use another train.out_dir$"):
            train_from_config(compose(overrides(other, run)), log=lambda *_: None, progress=False)
    # a checkpoint made before the data was identified: its data.path stands for its data
    state = load_checkpoint(run / "checkpoint")
    del state["data"]["identity"]
    save_checkpoint(run / "checkpoint", state)
    with pytest.raises(NasedgeError, match=rf"\(data.path: '{dataset}' against '{moved}' in the checkpoint\)"):
        train_from_config(compose(overrides(dataset, run)), log=lambda *_: None, progress=False)


def test_resume_takes_the_same_files_decoded_otherwise(dataset, tmp_path, monkeypatch):
    """A run resumed on another GPU model or after a library upgrade decodes the same files to other pixels
    (rounding): the same data, not "other images" (which left no way on but a new out_dir); so is a checkpoint
    whose identity holds decoded pixels (the earlier format)."""
    import nasedge.data.decode as decode

    run, budget = tmp_path / "r", "train.max_minutes=1e-9"  # one step per invocation
    assert not train_from_config(compose(overrides(dataset, run, budget)), log=lambda *_: None).finished
    plain = decode.decode_images
    monkeypatch.setattr(decode, "decode_images", lambda *a, **k: plain(*a, **k) ^ 1)  # every pixel's last bit
    lines = []
    assert not train_from_config(compose(overrides(dataset, run, budget)), log=lines.append, progress=False).finished
    assert any(line.startswith("resumed from ") for line in lines), lines
    monkeypatch.setattr(decode, "decode_images", plain)
    state = load_checkpoint(run / "checkpoint")
    identity = state["data"]["identity"]
    state["data"]["identity"] = {**{k: v for k, v in identity.items() if k != "encoded"}, "images": "0" * 16,
                                 "decoder": "cpu"}
    save_checkpoint(run / "checkpoint", state)
    lines = []
    assert not train_from_config(compose(overrides(dataset, run, budget)), log=lines.append, progress=False).finished
    assert any(line.startswith("resumed from ") for line in lines), lines


def test_the_plan_comes_first_and_names_the_resume_point(dataset, tmp_path):
    lines = []
    cfg = compose(overrides(dataset, tmp_path / "p", "train.max_minutes=0.001"))  # stops after a step or a few
    assert not train_from_config(cfg, log=lines.append, progress=False).finished
    assert lines[0].startswith("train: progressive shrinking of the ofa_mbv3_tiny supernet; 4 phases (full 2, "
                               "kernel 1, depth 1, expand 1 epochs; 5 in all), batch 32; data packed_npz ")
    assert "device cpu;" in lines[0] and lines[0].endswith("fresh start (no checkpoint in "
                                                         f"{tmp_path / 'p' / 'checkpoint'}); stops at a checkpoint "
                                                         "after 0.001 min")
    assert lines[1].startswith("loading ") and lines[2].startswith("data: 320 training and 100 test images")
    lines.clear()
    train_from_config(cfg, log=lines.append, progress=False)
    # how many steps fit in 0.06 s depends on the machine; the line must name the point the checkpoint holds
    assert re.search(r"; resume at phase full epoch [0-9]+ step [1-9][0-9]* \(", lines[0]), lines[0]


@pytest.mark.slow  # processes killed and resumed; test_time_budget_stop_and_resume_is_exact resumes in-process
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])  # Ctrl-C as SIGTERM
def test_killed_run_resumes_from_its_last_checkpoint(dataset, tmp_path, sig, reference):
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
    assert proc.returncode == (75 if sig != signal.SIGKILL else -9), proc.stdout.read()
    r = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout
    a, b = state_of(reference[1]), state_of(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_phase_ends_are_kept_and_a_run_can_start_from_one(dataset, tmp_path):
    full_only = ["train.keep_phase_ends=true", "data.cutout=8",
                 "train.phases=[{name: full, epochs: 2, lr: 0.1, kernel: [5], expand: [3], depth: [2]}]"]
    train_from_config(compose(overrides(dataset, tmp_path / "a", *full_only)), log=lambda *_: None)
    snapshot = tmp_path / "a" / "phases" / "full.pt"
    kept, final = load_supernet(snapshot).state_dict(), state_of(tmp_path / "a")
    assert all(torch.equal(kept[k], final[k]) for k in final)
    # lr 0: the elastic-only run keeps every weight it started from (BN statistics still move)
    elastic = [f"train.init_from={snapshot}",
               "train.phases=[{name: kernel, epochs: 1, lr: 0.0, subnets_per_step: 2, expand: [3], depth: [2], kd_weight: 1.0}]"]
    r = train_from_config(compose(overrides(dataset, tmp_path / "b", *elastic)), log=lambda *_: None)
    assert r.finished and [m["phase"] for m in r.metrics] == ["kernel"]
    start, end = load_supernet(snapshot).state_dict(), state_of(tmp_path / "b")
    weights = [k for k, v in start.items() if v.ndim > 1]
    assert weights and all(torch.equal(start[k], end[k]) for k in weights)


def test_a_run_from_a_kept_phase_end_continues_exactly(dataset, tmp_path):
    phases = ["{name: full, epochs: 2, lr: 0.1, kernel: [5], expand: [3], depth: [2]}",
              "{name: kernel, epochs: 1, lr: 0.05, subnets_per_step: 2, expand: [3], depth: [2], kd_weight: 1.0}",
              "{name: expand, epochs: 1, lr: 0.05, subnets_per_step: 3, kd_weight: 1.0, sandwich: true, sort_channels: true}"]
    whole = train_from_config(compose(overrides(dataset, tmp_path / "whole", "train.keep_phase_ends=true",
                                                f"train.phases=[{','.join(phases)}]")), log=lambda *_: None)
    fork = train_from_config(compose(overrides(dataset, tmp_path / "fork",
                                               f"train.init_from={tmp_path}/whole/phases/full.pt",
                                               f"train.phases=[{','.join(phases[1:])}]")), log=lambda *_: None)
    assert [m["top1_max"] for m in fork.metrics] == [m["top1_max"] for m in whole.metrics[2:]]
    a, b = state_of(tmp_path / "whole"), state_of(tmp_path / "fork")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_phase_names_must_be_unique(dataset, tmp_path):
    twice = "train.phases=[{name: full, epochs: 1, lr: 0.1}, {name: full, epochs: 1, lr: 0.1}]"
    with pytest.raises(NasedgeError, match="phase names must be unique"):
        train_from_config(compose(overrides(dataset, tmp_path / "d", twice)), log=lambda *_: None)


def test_a_later_phase_outside_the_space_is_refused_before_any_training(dataset, tmp_path):
    phases = "train.phases=[{name: full, epochs: 1, lr: 0.1}, {name: kernel, epochs: 1, lr: 0.1, kernel: [4]}]"
    with pytest.raises(NasedgeError, match=r"train.phases\[kernel\]: .*4"):
        train_from_config(compose(overrides(dataset, tmp_path / "k", phases)), log=lambda *_: None)
    assert not (tmp_path / "k" / "checkpoint").exists()  # the first phase did not run


def test_init_from_errors_name_the_field_before_the_data_loads(dataset, tmp_path):
    lines = []
    with pytest.raises(NasedgeError, match=r"train.init_from: .*missing.pt: supernet checkpoint not found"):
        train_from_config(compose(overrides(dataset, tmp_path / "c", f"train.init_from={tmp_path}/missing.pt")),
                          log=lines.append)
    assert not any(line.startswith("loading ") for line in lines)
    assert not (tmp_path / "c").exists()  # the run wrote nothing: the out_dir it made went again


def test_a_budget_used_up_by_start_up_still_makes_progress(dataset, tmp_path):
    for expected in (1, 2):
        r = train_from_config(compose(overrides(dataset, tmp_path / "slow", "train.max_minutes=1e-9")),
                              log=lambda *_: None)
        assert not r.finished
        assert load_checkpoint(tmp_path / "slow" / "checkpoint")["position"] == {"phase": 0, "epoch": 0, "step": expected}


def test_a_second_run_on_the_same_out_dir_is_refused_while_the_first_runs(dataset, tmp_path):
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "a+") as held:  # what a first run holds while it lasts
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        with pytest.raises(NasedgeError, match=r"another training is writing it \(process 4242\)"):
            train_from_config(compose(overrides(dataset, run)), log=lambda *_: None, progress=False)
    assert not (run / "checkpoint").exists()
    result = train_from_config(compose(overrides(dataset, run, "train.max_minutes=0.001")), log=lambda *_: None,
                               progress=False)  # released: the next run takes the folder
    assert (run / "checkpoint").exists() and not result.finished
