"""Time of one progressive-shrinking step, plain against DDP at world size 1, in one process.

Run under ``torchrun --standalone --nproc-per-node=1`` (DDP needs the process group). Two trainers of
the same config share nothing: one plain (no process group), one as a torchrun rank (gradient
all-reduce per step, sharded dropout and augmentation). Both take the same steps (seeds, hence subnets and
resolutions) on the same synthetic batch; every seed runs once on both before timing, so cuDNN has a
plan for every shape (building them dominates the first epochs of a real run and varies with the
host). Then each round times every seed on both paths: by default the two steps of a seed back to back (the
order alternating, each step timed to the GPU's end), or (``--interleave round``) all seeds on one path, then all
on the other. The ratio of the two paths' times per round, with a bootstrap interval over rounds, is the figure:
the host's speed drifts by more than the difference sought, and the closer in time the two are, the more of
the drift cancels.

  torchrun --standalone --nproc-per-node=1 experiments/distributed_training/ws1_step_bench.py \
      experiment=cifar10_ofa_finetune train.init_from=nasedge/assets/cifar10_ofa_mbv3/supernet.pt
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import torch
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.spaces import get_space
from nasedge.train.distributed import init_world
from nasedge.train.progressive_shrinking import Trainer, _param_groups, phase_space, step_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=40, help="distinct steps per round")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--interleave", choices=("step", "round"), default="step",
                    help="alternate the paths every step (each timed to its end) or every round of all steps")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = compose(args.overrides)
    train_cfg, data_cfg = OmegaConf.to_object(cfg.train), OmegaConf.to_object(cfg.data)
    space = get_space(cfg.search_space.name)
    world = init_world(train_cfg.device)
    conf = OmegaConf.to_container(cfg, resolve=True)
    phase = train_cfg.phases[-1]
    sub = phase_space(space, phase)
    b = train_cfg.batch_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (b, 3, data_cfg.image_size, data_cfg.image_size), dtype=torch.uint8,
                           generator=g).to(world.device)
    labels = torch.randint(0, space.num_classes, (b,), generator=g).to(world.device)
    runners = {}
    for mode in ("plain", "ddp"):
        t = Trainer(train_cfg, data_cfg, space, int(cfg.seed), conf, world if mode == "ddp" else None)
        if train_cfg.deterministic:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        model = t._build_model(space.num_classes, lambda line: print(line, file=sys.stderr))
        teacher = t._make_teacher(model) if phase.kd_weight > 0 else None
        if mode == "ddp":
            t._join_ranks(model)
        opt = torch.optim.SGD(_param_groups(model, train_cfg.weight_decay), lr=phase.lr, momentum=0.9, nesterov=True)
        runners[mode] = (t, model, teacher, opt)
    cuda = world.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    seeds = [step_seed(int(cfg.seed), phase.name, 0, s) for s in range(args.seeds)]

    def step(mode: str, seed: int) -> None:
        t, model, teacher, opt = runners[mode]
        t._step(model, teacher, opt, sub, phase, images, labels, seed)

    def run_round(mode: str) -> float:
        sync()
        start = time.perf_counter()
        for s in seeds:
            step(mode, s)
        sync()
        return (time.perf_counter() - start) / len(seeds) * 1e3

    def run_paired_round(r: int) -> dict[str, float]:
        # each step of one seed on both paths back to back (the order alternating), each timed to its end
        total = {"plain": 0.0, "ddp": 0.0}
        for i, s in enumerate(seeds):
            for mode in (("plain", "ddp") if (i + r) % 2 == 0 else ("ddp", "plain")):
                sync()
                start = time.perf_counter()
                step(mode, s)
                sync()
                total[mode] += time.perf_counter() - start
        return {mode: v / len(seeds) * 1e3 for mode, v in total.items()}

    for mode in ("plain", "ddp"):   # warm-up: every shape once on both
        run_round(mode)
    times: dict[str, list[float]] = {"plain": [], "ddp": []}
    for r in range(args.rounds):
        if args.interleave == "step":
            for mode, ms in run_paired_round(r).items():
                times[mode].append(round(ms, 2))
        else:
            for mode in (("plain", "ddp") if r % 2 == 0 else ("ddp", "plain")):
                times[mode].append(round(run_round(mode), 2))
        print(f"round {r + 1}/{args.rounds}: plain {times['plain'][-1]} ms, ddp {times['ddp'][-1]} ms per step",
              file=sys.stderr, flush=True)
    out = {"ms_per_step": times, "device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
           "batch": b, "subnets_per_step": phase.subnets_per_step, "steps_per_round": len(seeds),
           "interleave": args.interleave}
    for mode, v in times.items():
        out[mode] = {"mean": round(statistics.fmean(v), 2), "min": min(v), "max": max(v),
                     "stdev": round(statistics.stdev(v), 2)}
    out["ddp_over_plain_time"] = round(out["ddp"]["mean"] / out["plain"]["mean"], 4)
    # the host's speed drifts between rounds by more than the difference sought; the two halves of a round run
    # back to back, so their ratio cancels most of the drift
    ratios = [d / p for p, d in zip(times["plain"], times["ddp"])]
    rng = random.Random(0)
    boot = sorted(statistics.fmean(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    out["round_ratios"] = [round(x, 4) for x in ratios]
    out["round_ratio_mean"] = round(statistics.fmean(ratios), 4)
    out["round_ratio_95"] = [round(boot[49], 4), round(boot[1949], 4)]  # bootstrap over rounds
    print(json.dumps(out))
    world.close()


if __name__ == "__main__":
    main()
