"""Training throughput at 224 px: a progressive-shrinking step per sampled subnet against the static largest
subnet trained alone, in one process, on generated JPEGs through nasedge's ImageNet-style data pipeline.

    python experiments/imagenet_scale/throughput_224.py --images 4096 --rounds 3 --steps 30 --out throughput_224.json

1. Writes ``--images`` JPEG files (256 x 320, 100 classes of coloured shapes on noise) as an ImageFolder and
   loads it with ``conf/data/image_folder.yaml`` (decoded once: nvJPEG on the GPU where there is CUDA); the
   decode rate is reported.
2. Times the trainer's own step (``Trainer._step``: gather of the batch's images, RandomResizedCrop + flip on
   the GPU, teacher forward, sampled subnets forward and backward, optimizer step) for
   ``static_max``: the largest subnet of ofa_mbv3_w1.2 at 224 px as a plain static network, alone, no teacher;
   ``ps_expand2``: a step of the last phase of progressive shrinking (largest + smallest + 1 random subnet,
   teacher distillation) at 224 px;
   ``ps_expand2_elastic``: the same step with elastic resolution (per-batch resolution sampling; 128, 160,
   192 and 224 px, so that the warm-up can meet every conv shape: each new one costs a cuDNN plan).
   Rounds interleave the variants (the host is shared); each round's steps follow a warm-up (cuDNN plans).
3. Samples GPU utilisation (``nvidia-smi -lms``) while each variant runs: the share of time a kernel ran.

The figure of merit is subnet-images/s of a PS step over images/s of the static largest subnet (goal >= 0.7).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from nasedge.config import compose
from nasedge.data import load_dataset
from nasedge.nn.mobilenetv3 import build_mobilenetv3
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet
from nasedge.train.config import PhaseConfig
from nasedge.train.progressive_shrinking import Trainer, _param_groups, phase_space

CLASSES = 100


def write_jpegs(root: Path, n: int, seed: int = 0) -> None:
    def one(i: int) -> None:
        rng = np.random.default_rng(seed * 1_000_003 + i)
        c = i % CLASSES
        h, w = 256, 320
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx, r = rng.uniform(80, 176), rng.uniform(100, 220), rng.uniform(40, 90)
        mask = (np.abs(yy - cy) ** (1 + c % 3) + np.abs(xx - cx) ** (1 + c % 3)) < r ** (1 + c % 3)
        colour = np.array([(c * 97) % 215 + 20, (c * 59) % 215 + 20, (c * 151) % 215 + 20])
        img = rng.normal(110, 30, (h, w, 3)) * ~mask[..., None] + colour * mask[..., None]
        d = root / "train" / f"c{c:03d}"
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
        (d / f"{i}.jpg").write_bytes(buf.getvalue())

    for split in ("train", "val"):
        for c in range(CLASSES):
            (root / split / f"c{c:03d}").mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))
    for c in range(CLASSES):  # a tiny held-out split (the loader needs one)
        src = next((root / "train" / f"c{c:03d}").iterdir())
        (root / "val" / f"c{c:03d}" / src.name).write_bytes(src.read_bytes())


class Utilisation:
    """GPU utilisation samples from ``nvidia-smi -lms`` while the context runs."""

    def __init__(self, period_ms: int = 100):
        self.period_ms, self.samples = period_ms, []

    def __enter__(self):
        self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      f"-lms={self.period_ms}"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        self.thread.join(timeout=2)

    def mean(self) -> float | None:
        s = self.samples[2:] or self.samples  # the first samples may straddle the start
        return statistics.fmean(s) if s else None


def timed(fn, steps: int, cuda: bool) -> tuple[float, float | None]:
    """Seconds per step and mean GPU utilisation (percent) over ``steps`` calls."""
    util = Utilisation() if cuda else None
    if cuda:
        torch.cuda.synchronize()
        util.__enter__()
    t = time.perf_counter()
    for i in range(steps):
        fn(i)
    if cuda:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    if cuda:
        util.__exit__()
    return dt, util.mean() if cuda else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--space", default="ofa_mbv3_w1.2")
    ap.add_argument("--out")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nasedge_jpegs_"))
    t = time.perf_counter()
    write_jpegs(tmp, args.images)
    write_s = time.perf_counter() - t
    cfg = compose(["data=image_folder", f"data.path={tmp}", f"search_space={args.space}", "train=progressive_shrinking",
                   f"train.batch_size={args.batch_size}", *args.overrides])
    data = OmegaConf.to_object(cfg.data)
    t = time.perf_counter()
    train, _ = load_dataset(data)
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    load_dataset(type(data)(**{**data.__dict__, "decode": "cpu"}))
    decode_cpu_s = time.perf_counter() - t
    tcfg = OmegaConf.to_object(cfg.train)
    space = get_space(args.space)
    trainer = Trainer(tcfg, data, space, 0, {})
    dev, cuda = trainer.device, trainer.cuda
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = tcfg.deterministic, False
    images, labels = train.images.to(dev), train.labels.to(dev)
    bs = args.batch_size
    g = torch.Generator().manual_seed(0)

    def batch(i):
        idx = torch.randint(0, len(train), (bs,), generator=g).to(dev)
        return images[idx], labels[idx]

    results = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
               "space": args.space, "batch_size": bs, "images": len(train), "stored_size": data.image_size,
               "decode": data.decode, "write_jpegs_s": round(write_s, 2), "decode_s": round(decode_s, 2),
               "decode_images_per_s": round(len(train) / decode_s, 1),
               "decode_cpu_threads_images_per_s": round(len(train) / decode_cpu_s, 1), "deterministic": tcfg.deterministic}
    print(json.dumps(results), flush=True)

    top = space.restrict(resolution=[224])
    static = build_mobilenetv3(top.max_arch(), space, CLASSES).to(dev)
    supernet = build_supernet(space, CLASSES).to(dev)
    if cuda:
        static, supernet = (m.to(memory_format=torch.channels_last) for m in (static, supernet))
    teacher = trainer._make_teacher(supernet)
    opt_static = torch.optim.SGD(_param_groups(static, tcfg.weight_decay), lr=0.1, momentum=0.9, nesterov=True)
    opt_super = torch.optim.SGD(_param_groups(supernet, tcfg.weight_decay), lr=0.1, momentum=0.9, nesterov=True)
    full = PhaseConfig(name="static", lr=0.1)
    last = next(p for p in reversed(tcfg.phases))  # expand2: 3 subnets, sandwich, distillation
    ps224 = PhaseConfig(**{**last.__dict__, "resolution": [224]})
    elastic = PhaseConfig(**{**last.__dict__, "resolution": [128, 160, 192, 224]})

    def step_static(i):
        trainer.static_arch = top.max_arch()
        x, y = batch(i)
        trainer._step(static, None, opt_static, trainer.static_space(), full, x, y, i)
        trainer.static_arch = None

    def step_ps(phase):
        pspace = phase_space(space, phase)

        def step(i):
            x, y = batch(i)
            trainer._step(supernet, teacher, opt_super, pspace, phase, x, y, 1000 + i)
        return step

    variants = {"static_max": (step_static, 1), "ps_expand2_224": (step_ps(ps224), ps224.subnets_per_step),
                "ps_expand2_elastic": (step_ps(elastic), elastic.subnets_per_step)}
    for name, (fn, _) in variants.items():  # warm-up: cuDNN plans of every subnet shape seen early
        t = time.perf_counter()
        timed(fn, args.warmup, cuda)
        print(f"warm-up {name}: {args.warmup} steps in {time.perf_counter() - t:.1f} s", flush=True)
    rounds = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, (fn, n) in variants.items():
            dt, util = timed(fn, args.steps, cuda)
            rounds[name].append({"seconds_per_step": dt, "subnet_images_per_s": n * bs / dt, "gpu_util": util})
            print(json.dumps({"round": r, "variant": name, **rounds[name][-1]}), flush=True)
    for name, rs in rounds.items():
        ips = [x["subnet_images_per_s"] for x in rs]
        utils = [x["gpu_util"] for x in rs if x["gpu_util"] is not None]
        results[name] = {"rounds": rs, "subnet_images_per_s_median": statistics.median(ips),
                         "min": min(ips), "max": max(ips), "gpu_util_mean": statistics.fmean(utils) if utils else None}
    base = [x["subnet_images_per_s"] for x in rounds["static_max"]]
    for name in variants:
        if name != "static_max":
            per_round = [x["subnet_images_per_s"] / b for x, b in zip(rounds[name], base)]
            results[name]["ratio_vs_static_per_round"] = per_round
            results[name]["ratio_vs_static_median"] = statistics.median(per_round)
    if cuda:
        results["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
