"""Top-1 of subnets under three BatchNorm protocols: running statistics, recalibration on clean
training images, recalibration on the same images with the training augmentation (the default).

    python experiments/cifar10_ofa/recalibration_check.py --supernet nasedge/assets/cifar10_ofa_mbv3/supernet.pt \
        --arch max --arch min [--test 3000]
    python experiments/cifar10_ofa/recalibration_check.py --model runs/x6/scratch_max/model.pt

``--model`` takes the ``model.pt`` of a static run (``nasedge train train.mode=static``), whose running
statistics belong to that arch alone; a supernet's running statistics belong to no subnet, so its rows
have the two recalibrated columns only. Data: ``--data`` (default ``$NASEDGE_CIFAR10``) with the
augmentation of conf/data/cifar10.yaml (crop after 4-pixel padding, flip, Cutout 16).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from nasedge.arch import Arch
from nasedge.data import DataConfig, load_dataset, recalibration_subset
from nasedge.supernet.accuracy import evaluate_arch, top1
from nasedge.nn.mobilenetv3 import build_mobilenetv3
from nasedge.spaces import get_space
from nasedge.supernet import load_supernet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--supernet", type=Path)
    p.add_argument("--arch", action="append", default=[], help="min, max or an arch JSON (with --supernet)")
    p.add_argument("--model", type=Path, action="append", default=[], help="model.pt of a static training run")
    p.add_argument("--data", default=os.environ.get("NASEDGE_CIFAR10", "../shared/datasets/cifar10-jpeg.npz"))
    p.add_argument("--test", type=int, help="a seeded subset of the test split (default: all of it)")
    p.add_argument("--out", type=Path, help="append one JSON line per model/arch")
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    data = DataConfig(path=args.data, crop_padding=4, cutout=16)
    train, test = load_dataset(data)
    test = test.subset(args.test, 1).to(device)
    recal = {"clean": recalibration_subset(train, replace(data, recalibration_augment=False)).to(device),
             "augmented": recalibration_subset(train, data).to(device)}

    nets: list[tuple[str, Arch, torch.nn.Module, bool]] = []
    if args.supernet:
        supernet = load_supernet(args.supernet)
        space = supernet.space
        for spec in args.arch or ["max", "min"]:
            arch = {"max": space.max_arch, "min": space.min_arch}.get(spec, lambda: space.validate(Arch.load(spec)))()
            nets.append((f"{args.supernet}:{spec}", arch, supernet.extract(arch), False))
    for path in args.model:
        state = torch.load(path, map_location="cpu", weights_only=True)
        arch = Arch.from_dict(state["arch"])
        net = build_mobilenetv3(arch, get_space(arch.space))
        net.load_state_dict(state["state_dict"])
        nets.append((str(path), arch, net, True))

    for name, arch, net, has_running_stats in nets:
        net = net.to(device).to(memory_format=torch.channels_last)
        row = {"model": name, "arch": arch.to_dict(), "test_images": len(test)}
        t = time.time()
        if has_running_stats:
            row["running_stats"] = top1(net, test, data, arch.resolution, channels_last=True)
        for kind, images in recal.items():
            row[f"recal_{kind}"] = evaluate_arch(copy.deepcopy(net), arch, images, test, data, channels_last=True)
        row["seconds"] = round(time.time() - t, 1)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
