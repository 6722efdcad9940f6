"""Training across processes (torchrun, gloo on CPU): shards, one process against two, kill and resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from nasedge.config import compose
from nasedge.data import shard_rows
from nasedge.data.augment import cutout, random_crop_flip
from nasedge.data.packed_npz import write_packed_npz
from nasedge.errors import NasedgeError
from nasedge.supernet import load_supernet
from nasedge.train import load_checkpoint, train_from_config
from nasedge.train.distributed import World, collective_failure_in_one_line, shard_dropout_

from tests.synthetic_data import make_images, write_dataset

# three short phases: the full network, elastic kernel with distillation, everything elastic with the
# sandwich rule and channel sorting; 4 steps of a global batch of 32 per epoch
PHASES = ("train.phases=[{name: full, epochs: 1, lr: 0.1, kernel: [5], expand: [3], depth: [2]},"
          "{name: kernel, epochs: 1, lr: 0.05, subnets_per_step: 2, expand: [3], depth: [2], kd_weight: 1.0},"
          "{name: expand, epochs: 2, lr: 0.05, subnets_per_step: 3, kd_weight: 1.0, sandwich: true, "
          "sort_channels: true}]")
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=128, n_test=64)


def overrides(dataset, out_dir, *extra):
    return ["search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={dataset}",
            "data.image_size=24", "data.cutout=4", "data.recalibration_images=32", "data.recalibration_batch_size=32",
            "train.eval_every_epochs=100", "train.sync_bn=true", PHASES, f"train.out_dir={out_dir}", *extra]


def torchrun(dataset, out_dir, nproc=2, extra=(), **popen):
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "nasedge", "train", *overrides(dataset, out_dir, *extra)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, **popen)


def state_of(out_dir):
    return load_supernet(Path(out_dir) / "supernet.pt").state_dict()


@pytest.fixture(scope="module")
def two_process_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "two"
    proc = torchrun(dataset, out)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log
    return out


def test_a_failed_collective_under_torchrun_is_one_line(monkeypatch):
    gloo = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer "
                        "[127.0.0.1]:29500\n(a C++ backtrace)")
    with pytest.raises(RuntimeError, match="Connection closed"):   # no torchrun: the error as it is
        with collective_failure_in_one_line("kept"):
            raise gloo
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(NasedgeError) as err:
        with collective_failure_in_one_line("the last checkpoint is kept"):
            raise gloo
    assert str(err.value).startswith("rank 1: a collective failed ([../third_party/gloo/gloo/transport/tcp/pair.cc")
    assert str(err.value).endswith("another rank stopped or failed (see its lines) or the connection broke; "
                                   "the last checkpoint is kept") and "\n" not in str(err.value)
    with pytest.raises(RuntimeError, match="shape mismatch"):   # not a collective's: a bug keeps its traceback
        with collective_failure_in_one_line("kept"):
            raise RuntimeError("shape mismatch")


def test_a_failed_collective_says_whether_a_checkpoint_is_kept(monkeypatch, tmp_path):
    """A rank killed before the first checkpoint gave "the last checkpoint is kept and the same command resumes",
    with no checkpoint at all: what is kept is asked when the collective fails."""
    from functools import partial

    from nasedge.train import save_checkpoint, what_a_failed_run_keeps

    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GROUP_RANK", raising=False)
    out = tmp_path / "run"
    gloo = RuntimeError("[gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:13736: Connection reset by peer")
    with pytest.raises(NasedgeError) as err:
        with collective_failure_in_one_line(partial(what_a_failed_run_keeps, out)):
            raise gloo
    assert str(err.value).endswith(f"connection broke; no checkpoint was written yet (none in {out}/checkpoint); "
                                   f"the same command starts afresh"), err.value
    with pytest.raises(NasedgeError) as err:
        with collective_failure_in_one_line(partial(what_a_failed_run_keeps, out)):
            save_checkpoint(out / "checkpoint", {"position": {"phase": 0, "epoch": 1, "step": 0}})
            raise gloo
    assert str(err.value).endswith(f"connection broke; the last checkpoint ({out}/checkpoint) is kept and the same "
                                   f"command resumes from it"), err.value
    monkeypatch.setenv("GROUP_RANK", "1")  # another host than rank 0's, which writes the checkpoints
    assert what_a_failed_run_keeps(tmp_path / "elsewhere") == (
        f"{tmp_path}/elsewhere/checkpoint holds no checkpoint on this host; the same command resumes from any that "
        f"rank 0's host holds")


def test_shards_partition_every_batch():
    for world in (1, 2, 4):
        rows = [shard_rows(32, r, world) for r in range(world)]
        assert sum((list(range(32))[s] for s in rows), []) == list(range(32))
    with pytest.raises(NasedgeError, match="train.batch_size=30 .* not divisible by the world size 4"):
        shard_rows(30, 0, 4)


def test_one_launched_rank_keeps_its_gradients_without_a_collective():
    """torchrun with one process: the mean gradient over one rank is its own, taken without any process group
    (a collective here would need one, and the flat copy cost a step time for nothing)."""
    model = nn.Linear(4, 3)
    model(torch.randn(5, 4)).square().sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    World(launched=True).average_gradients(model)  # no process group exists in this test
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), before))


def test_a_shard_is_augmented_and_dropped_out_as_within_the_whole_batch():
    images = torch.randint(0, 256, (8, 3, 12, 12), dtype=torch.uint8)
    g = torch.Generator().manual_seed(1)
    whole = cutout(random_crop_flip(images, 2, g).float(), 4, g)
    for rows in (slice(0, 4), slice(4, 8)):
        g = torch.Generator().manual_seed(1)
        part = cutout(random_crop_flip(images[rows], 2, g, rows, 8).float(), 4, g, rows=rows, total=8)
        assert torch.equal(part, whole[rows])
    x = torch.randn(8, 16)
    drop = nn.Dropout(0.3).train()
    torch.manual_seed(5)
    whole = drop(x)
    shard_dropout_(drop, slice(4, 8), 8)
    torch.manual_seed(5)
    assert torch.equal(drop(x[4:]), whole[4:])


def test_two_processes_equal_one_with_the_same_global_batch(dataset, tmp_path, two_process_run):
    one = train_from_config(compose(overrides(dataset, tmp_path / "one")), log=lambda *_: None)
    two = json.loads((two_process_run / "metrics.json").read_text())
    assert [m["subnets"] for m in two] == [m["subnets"] for m in one.metrics]  # the same subnets, step by step
    # Floating-point reduction order: BatchNorm statistics and gradients of the global batch are summed
    # in two parts instead of one. The first steps agree to 1e-7; BatchNorm channels of almost no
    # variance amplify the difference (by up to 1/sqrt(eps) per step), as changing the thread count of
    # one process does. Measured: losses 1e-7 .. 7e-5 relative, weights 5e-3 apart after 20 steps.
    for a, b in zip(one.metrics, two):
        assert b["loss"] == pytest.approx(a["loss"], rel=5e-4)
    a, b = state_of(tmp_path / "one"), state_of(two_process_run)
    weights = [k for k in a if a[k].is_floating_point() and "running" not in k]
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=2e-2) for k in weights)


def _workers(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _rank_worker(pid: int, rank: int) -> int:
    """The worker process of ``rank`` among torchrun ``pid``'s children."""
    return next(w for w in _workers(pid)
                if f"RANK={rank}" in Path(f"/proc/{w}/environ").read_bytes().decode(errors="ignore").split("\0"))


def _threads(pid: int) -> dict[Path, str]:
    """Every thread of torchrun ``pid``'s workers but their main threads (``/proc/<pid>/task/<tid>``), and its name."""
    return {t: (t / "comm").read_text().strip() for w in _workers(pid) for t in Path(f"/proc/{w}/task").iterdir()
            if t.name != str(w)}


def _blocks(task: Path, sig: int) -> bool:
    """Whether the thread ``task`` (``/proc/<pid>/task/<tid>``) blocks ``sig``."""
    mask = next(line.split()[1] for line in (task / "status").read_text().splitlines() if line.startswith("SigBlk:"))
    return bool(int(mask, 16) & (1 << (sig - 1)))


def test_killed_two_process_run_resumes_to_the_same_weights(dataset, tmp_path, two_process_run):
    out = tmp_path / "killed"
    proc = torchrun(dataset, out)
    manifest = out / "checkpoint" / "checkpoint.json"
    marker = random.Random().choice([0, 1])   # after the first or second epoch's checkpoint
    deadline = time.time() + 300
    while time.time() < deadline and not (manifest.exists() and json.loads(manifest.read_text())["sequence"] >= marker):
        time.sleep(0.02)
    time.sleep(random.Random().uniform(0.0, 0.3))   # a random step of the next epoch
    for pid in _workers(proc.pid):           # every rank at once, as a lost machine
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.communicate(timeout=60)
    assert not (out / "supernet.pt").exists()
    position = load_checkpoint(out / "checkpoint")["position"]
    assert position["step"] == 0 and load_checkpoint(out / "checkpoint")["world_size"] == 2
    again = torchrun(dataset, out)
    log = again.communicate(timeout=300)[0]
    assert again.returncode == 0, log
    assert f"resumed from {out / 'checkpoint'}" in log
    a, b = state_of(two_process_run), state_of(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_eval_splits_archs_over_ranks_and_merges_one_file(dataset, tmp_path, two_process_run):
    common = ["eval", "--arch", "random:5", "--supernet", str(two_process_run / "supernet.pt"), "--device", "cpu",
              "--json", "data=cifar10", f"data.path={dataset}", "data.image_size=24",
              "data.recalibration_images=32", "data.recalibration_batch_size=32"]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          "-m", "nasedge", *common, "--out", str(tmp_path / "two.jsonl")],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert two.returncode == 0, two.stdout + two.stderr
    one = subprocess.run([sys.executable, "-m", "nasedge", *common, "--out", str(tmp_path / "one.jsonl")],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    def records(out):
        return [line for line in out.splitlines() if line.startswith("{")]

    assert len(records(one.stdout)) == 5 and records(two.stdout) == records(one.stdout)
    assert not list(tmp_path.glob("two.jsonl.rank*"))


def test_sigterm_to_one_rank_stops_all_at_one_checkpoint_and_resumes_exactly(dataset, tmp_path, two_process_run):
    out = tmp_path / "term"
    proc = torchrun(dataset, out)
    manifest = out / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 300
    while time.time() < deadline and not manifest.exists():   # the end of the first epoch
        time.sleep(0.02)
    time.sleep(0.1)
    # the signal reaches the main thread, never one of gloo's (there it broke gloo's event loop: SIGABRT at exit)
    gloo = [t for t, name in _threads(proc.pid).items() if "gloo" in name]
    assert gloo and all(_blocks(t, signal.SIGTERM) for t in gloo)
    os.kill(_rank_worker(proc.pid, 1), signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert "stopped (another rank stopped)" in log and "exitcode  : 75" in log, log  # rank 0 learnt it from rank 1
    position = load_checkpoint(out / "checkpoint")["position"]   # usually mid-epoch (step > 0)
    again = torchrun(dataset, out)
    log = again.communicate(timeout=300)[0]
    assert again.returncode == 0, log
    assert f"at phase {position['phase']} " in log and f"step {position['step']}" in log
    a, b = state_of(two_process_run), state_of(out)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # each rank's running loss of the epoch stopped in was kept: the same epoch losses
    losses = [[m["loss"] for m in json.loads((run / "metrics.json").read_text())] for run in (two_process_run, out)]
    assert losses[0] == losses[1]


@pytest.mark.gpu
def test_sigterm_on_gpus_stops_at_one_checkpoint_and_resumes(dataset, tmp_path):
    """The NCCL path: one rank per GPU (two where there are two, else one), NCCL for the gradients, gloo for the
    stop flags. SIGTERM to the last rank after the first checkpoint: every rank stops at one checkpoint (75), no
    thread of the process groups takes the signal, and the rerun resumes there and finishes."""
    nproc = min(2, torch.cuda.device_count())
    gpu = ["train.device=cuda"]
    out = tmp_path / "term"
    proc = torchrun(dataset, out, nproc, gpu)
    manifest = out / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 300
    while time.time() < deadline and not manifest.exists() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[0]   # not done before its first checkpoint
    # every thread but each rank's main thread blocks the stop signals: NCCL's and gloo's are started by
    # init_world, and a signal landing on one of them ends the rank without a resumable checkpoint
    threads = _threads(proc.pid)
    assert any("gloo" in n for n in threads.values()), threads
    unblocked = {n for t, n in threads.items() if not _blocks(t, signal.SIGTERM)}
    assert not {n for n in unblocked if "gloo" in n.lower() or "nccl" in n.lower()}, unblocked
    os.kill(_rank_worker(proc.pid, nproc - 1), signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert "exitcode  : 75" in log or proc.returncode == 75, log
    if nproc > 1:
        assert "stopped (another rank stopped)" in log, log
    position = load_checkpoint(out / "checkpoint")["position"]
    assert not (out / "supernet.pt").exists()
    again = torchrun(dataset, out, nproc, gpu)
    log = again.communicate(timeout=300)[0]
    assert again.returncode == 0, log
    assert f"at phase {position['phase']} " in log and f"step {position['step']}" in log, log
    assert (out / "supernet.pt").exists()


@pytest.mark.slow  # two torchrun launches (~20 s); they call the trainer's step directly, so they break with it
@pytest.mark.parametrize("script, nproc, extra", [
    ("ws1_step_bench.py", 1, ["--seeds", "2", "--rounds", "2"]),  # world size 1 against the plain step
    ("scaling_bench.py", 2, ["--per-gpu-batch", "8", "--seeds", "2", "--rounds", "1"])])
def test_the_step_benchmarks_run(script, nproc, extra):
    bench = Path(__file__).resolve().parents[2] / "experiments" / "distributed_training" / script
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                          str(bench), *extra, "search_space=ofa_mbv3_tiny", "train=tiny"],
                         capture_output=True, text=True, env={**ENV, "PYTHONPATH": str(bench.parents[2])},
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [x for x in out.stdout.splitlines() if x.startswith(("{", "SCALING "))][-1]
    result = json.loads(line.removeprefix("SCALING "))
    assert all(ms > 0 for v in result["ms_per_step"].values() for ms in v)


@pytest.mark.parametrize("other", ["size", "images"])
def test_ranks_that_read_other_data_are_refused_in_one_line(dataset, tmp_path, other):
    """Each host reads its own data.path: rank 1 given another file (other size: a collective would abort in
    C++; same size, other images: it would train silently on a mix) stops every rank with the reason."""
    second = tmp_path / "rank1.npz"
    write_packed_npz(second, [f"class{i}" for i in range(10)], make_images(320 if other == "size" else 128, 24, 7),
                     make_images(64, 24, 1))
    (tmp_path / "rank0.npz").symlink_to(dataset)
    per_rank = f"data.path={tmp_path}/rank${{oc.env:LOCAL_RANK}}.npz"
    proc = torchrun(dataset, tmp_path / "out", extra=(per_rank,))
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0 and second.exists()
    what = "320 training images against 128" if other == "size" else "other images"
    assert f"rank 1 read other data than rank 0 ({what}); every host needs the same data" in log, log
    assert "[rank0]: Traceback" not in log and "[rank1]: Traceback" not in log and "terminate called" not in log
    assert not (tmp_path / "out" / "checkpoint").exists()


def test_ranks_given_other_settings_are_refused_in_one_line(dataset, tmp_path):
    """Each host composes its own command: a rank with another setting (here the label smoothing: it would train
    silently on a mix of recipes) stops every rank, naming it; data.path may differ (checked above)."""
    per_rank = "train.label_smoothing=0.${oc.env:LOCAL_RANK}"
    proc = torchrun(dataset, tmp_path / "out", extra=(per_rank, f"data.path={dataset}"))
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0
    assert "rank 1 was given another configuration than rank 0 (train.label_smoothing: 0.1 against 0.0); every rank needs the same " \
           "settings" in log, log
    assert "[rank0]: Traceback" not in log and "[rank1]: Traceback" not in log
    assert not (tmp_path / "out" / "checkpoint").exists()
