"""Training throughput of one progressive-shrinking step against the static max subnet, same run.

    python experiments/cifar10_ofa/throughput.py [--steps 30] [--phase expand2] [--out throughput.json]

Times the trainer's own step function (augmentation, teacher forward, sampled subnets forward and
backward, optimizer step) on synthetic uint8 batches already on the device, after warm-up, with
CUDA synchronisation. Variants:
  static_max      the max subnet as a plain static network, trained alone (the baseline)
  ps_<phase>      a step of the configured phase (its sampling, teacher, subnets per step)
  ps_all_max      the same step with every sampled subnet forced to the max arch: the overhead of
                  elastic ops + teacher, per subnet, with the work held equal
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.nn.mobilenetv3 import build_mobilenetv3
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet
from nasedge.train.progressive_shrinking import Trainer, _param_groups, phase_space


def timed(fn, steps: int, warmup: int, cuda: bool) -> float:
    for i in range(warmup):
        fn(i)
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        fn(warmup + i)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--phase", default="expand2")
    ap.add_argument("--deterministic", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = compose(["experiment=cifar10_ofa", *args.overrides])
    tcfg = OmegaConf.to_object(cfg.train)
    tcfg.deterministic = bool(args.deterministic)
    data = OmegaConf.to_object(cfg.data)
    space = get_space(cfg.search_space.name)
    trainer = Trainer(tcfg, data, space, 0, {})
    dev, cuda = trainer.device, trainer.cuda
    torch.backends.cudnn.deterministic = tcfg.deterministic
    torch.backends.cudnn.benchmark = not tcfg.deterministic
    bs = tcfg.batch_size
    images = torch.randint(0, 256, (bs, 3, 32, 32), dtype=torch.uint8, device=dev)
    labels = torch.randint(0, 10, (bs,), device=dev)
    phase = next(p for p in tcfg.phases if p.name == args.phase)
    results = {"device": torch.cuda.get_device_name() if cuda else "cpu", "batch_size": bs, "phase": phase.name,
               "subnets_per_step": phase.subnets_per_step, "sandwich": phase.sandwich,
               "deterministic": tcfg.deterministic, "torch": torch.__version__}

    # baseline: static max subnet alone, no teacher
    static = build_mobilenetv3(space.max_arch(), space).to(dev)
    if cuda:
        static = static.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(_param_groups(static, tcfg.weight_decay), lr=0.1, momentum=0.9, nesterov=True)
    baseline_phase = OmegaConf.to_object(cfg.train).phases[0]
    baseline_phase.kd_weight, baseline_phase.subnets_per_step = 0.0, 1
    trainer.static_arch = space.max_arch()
    t_static = timed(lambda i: trainer._step(static, None, opt, trainer.static_space(), baseline_phase, images,
                                             labels, i), args.steps, args.warmup, cuda)
    trainer.static_arch = None
    results["static_max"] = {"seconds_per_step": t_static, "images_per_s": bs / t_static}

    supernet = build_supernet(space).to(dev)
    if cuda:
        supernet = supernet.to(memory_format=torch.channels_last)
    teacher = trainer._make_teacher(supernet)
    opt = torch.optim.SGD(_param_groups(supernet, tcfg.weight_decay), lr=0.1, momentum=0.9, nesterov=True)
    pspace = phase_space(space, phase)
    t_ps = timed(lambda i: trainer._step(supernet, teacher, opt, pspace, phase, images, labels, i),
                 args.steps, args.warmup, cuda)
    n = phase.subnets_per_step
    results[f"ps_{phase.name}"] = {"seconds_per_step": t_ps, "images_per_s": bs / t_ps,
                                   "subnet_images_per_s": n * bs / t_ps,
                                   "ratio_per_subnet_vs_static_max": (t_ps / n) / t_static}
    maxed = space.restrict(kernel=[max(space.kernel_choices)], expand=[max(space.expand_choices)],
                           depth=[space.max_depth])
    maxed_phase = type(phase)(**{**phase.__dict__, "sandwich": False})
    t_max = timed(lambda i: trainer._step(supernet, teacher, opt, maxed, maxed_phase, images, labels, i),
                  args.steps, args.warmup, cuda)
    results["ps_all_max"] = {"seconds_per_step": t_max, "images_per_s": bs / t_max,
                             "ratio_per_subnet_vs_static_max": (t_max / n) / t_static}
    # where the time goes in the all-max step: teacher forward alone, supernet max fwd+bwd alone
    x = torch.randn(bs, 3, 32, 32, device=dev)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    def teacher_fwd(i):
        with torch.no_grad(), trainer._autocast():
            teacher(x)
    results["teacher_forward_seconds"] = timed(teacher_fwd, args.steps, args.warmup, cuda)
    supernet.set_active(space.max_arch())
    def super_fb(i):
        with trainer._autocast():
            loss = supernet(x).float().logsumexp(1).mean()
        loss.backward()
    results["supernet_max_fwd_bwd_seconds"] = timed(super_fb, args.steps, args.warmup, cuda)
    def static_fb(i):
        with trainer._autocast():
            loss = static(x).float().logsumexp(1).mean()
        loss.backward()
    results["static_max_fwd_bwd_seconds"] = timed(static_fb, args.steps, args.warmup, cuda)
    if cuda:
        results["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
