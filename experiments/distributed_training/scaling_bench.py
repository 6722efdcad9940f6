"""Images/s of progressive-shrinking steps on N GPUs of one host, per-GPU batch fixed, and where time goes.

Run under ``torchrun --standalone --nproc-per-node=N`` once per N (1, 2, 4, 8); ``scaling_summary.py``
turns the JSON lines into efficiencies against N = 1. Every rank builds the same trainer from the composed
config with ``train.batch_size = N * --per-gpu-batch`` and times ``Trainer._step`` on a synthetic uint8 batch
already on its GPU (so loading and decoding are excluded here; ``nasedge train`` launches measure them), on
the same seeds (hence the same subnets and resolutions) in every mode:

- ``ddp``: the real distributed step (one flat gradient all-reduce per step);
- ``local``: the same step with no process group (every rank alone, all ranks at once): the all-reduce's
  share is ``ddp - local``; ``local`` slower than N = 1's own time means contention on the host (one CPU
  launching kernels for several GPUs, PCIe, clocks);
- ``ddp_no_teacher``: ``ddp`` with knowledge distillation off: the teacher's share.

Rounds alternate the modes; a warm-up pass first runs every seed once per mode (cuDNN plans for every
conv shape). GPU utilisation of every GPU is sampled with nvidia-smi during the timed rounds.

  torchrun --standalone --nproc-per-node=8 experiments/distributed_training/scaling_bench.py \\
      --per-gpu-batch 256 experiment=cifar10_ofa_finetune train.init_from=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time

import torch
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.spaces import get_space
from nasedge.train.distributed import init_world
from nasedge.train.progressive_shrinking import Trainer, _param_groups, phase_space, step_seed


class GpuSampler:
    """nvidia-smi utilisation of every GPU, sampled every 200 ms while running (rank 0 only)."""

    def __init__(self) -> None:
        self.proc = None

    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits",
                                          "-lms", "200"], stdout=subprocess.PIPE, text=True)
        except OSError:
            self.proc = None

    def stop(self) -> dict[str, float]:
        if self.proc is None:
            return {}
        self.proc.terminate()
        out, _ = self.proc.communicate()
        per_gpu: dict[str, list[float]] = {}
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[1].isdigit():
                per_gpu.setdefault(parts[0], []).append(float(parts[1]))
        return {k: round(statistics.fmean(v), 1) for k, v in per_gpu.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-gpu-batch", type=int, required=True)
    ap.add_argument("--seeds", type=int, default=30, help="distinct steps per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--modes", default="ddp,local,ddp_no_teacher")
    ap.add_argument("--label", default="", help="copied into the output line (e.g. the recipe)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    world = init_world("auto")
    b = args.per_gpu_batch
    cfg = compose([*args.overrides, f"train.batch_size={b * world.size}"])
    train_cfg, data_cfg = OmegaConf.to_object(cfg.train), OmegaConf.to_object(cfg.data)
    space = get_space(cfg.search_space.name)
    conf = OmegaConf.to_container(cfg, resolve=True)
    phase = train_cfg.phases[-1]
    sub = phase_space(space, phase)
    g = torch.Generator().manual_seed(1 + world.rank)
    size = data_cfg.image_size
    images = torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g).to(world.device)
    labels = torch.randint(0, space.num_classes, (b,), generator=g).to(world.device)
    if train_cfg.deterministic and world.device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

    modes = args.modes.split(",")
    runners = {}
    for mode in modes:
        mode_cfg = copy.deepcopy(train_cfg)
        mode_phase = copy.deepcopy(phase)
        if mode == "local":
            mode_cfg.batch_size = b
        if mode == "ddp_no_teacher":
            mode_phase.kd_weight = 0.0
        t = Trainer(mode_cfg, data_cfg, space, int(cfg.seed), conf, None if mode == "local" else world)
        model = t._build_model(space.num_classes, lambda line: print(line, file=sys.stderr))
        teacher = t._make_teacher(model) if mode_phase.kd_weight > 0 else None
        if mode != "local":
            t._join_ranks(model)
        opt = torch.optim.SGD(_param_groups(model, mode_cfg.weight_decay), lr=mode_phase.lr, momentum=0.9, nesterov=True)
        runners[mode] = (t, model, teacher, opt, mode_phase)
    cuda = world.device.type == "cuda"
    seeds = [step_seed(int(cfg.seed), phase.name, 0, s) for s in range(args.seeds)]

    def barrier() -> None:
        if world.size > 1:
            torch.distributed.barrier(group=world.control)

    def run_round(mode: str) -> float:
        t, model, teacher, opt, mode_phase = runners[mode]
        if cuda:
            torch.cuda.synchronize()
        barrier()
        start = time.perf_counter()
        for s in seeds:
            t._step(model, teacher, opt, sub, mode_phase, images, labels, s)
        if cuda:
            torch.cuda.synchronize()
        barrier()   # a round ends when the slowest rank ends
        return (time.perf_counter() - start) / len(seeds) * 1e3

    for mode in modes:
        run_round(mode)
    sampler = GpuSampler()
    if world.is_main and cuda:
        sampler.start()
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            times[mode].append(round(run_round(mode), 2))
    util = sampler.stop() if world.is_main else {}
    if world.is_main:
        out = {"label": args.label, "world_size": world.size, "per_gpu_batch": b, "image_size": size,
               "space": space.name, "subnets_per_step": phase.subnets_per_step, "kd_weight": phase.kd_weight,
               "steps_per_round": len(seeds), "ms_per_step": times,
               "device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
               "gpu_util_percent": util}
        for mode, v in times.items():
            mean = statistics.fmean(v)
            out[mode] = {"ms_mean": round(mean, 2), "ms_stdev": round(statistics.stdev(v), 2) if len(v) > 1 else None,
                         "images_per_s": round(world.size * b / mean * 1e3, 1)}
        print("SCALING " + json.dumps(out), flush=True)
    world.close()


if __name__ == "__main__":
    main()
