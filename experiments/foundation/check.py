"""Measure the foundation's guarantees on random archs of every registered space.

    python experiments/foundation/check.py [--parity 200] [--onnx 50] [--macs 50] [--out results.json]

parity: extracted subnet vs the supernet's active forward (eval mode, float32), max |diff| / max |ref|,
        and parameter count vs the analytic count;
onnx:   onnxruntime vs torch, max abs difference (batch 2);
macs:   analytic MACs vs torch.utils.flop_counter (FLOPs / 2).
The supernet's BN statistics and kernel-transformation matrices are randomised first, so that
extraction errors (wrong slice, untransformed kernel) cannot hide behind an identity.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.progress import track
from torch.utils.flop_counter import FlopCounterMode

from nasedge.cost import arch_cost
from nasedge.export.onnx import check_onnx, export_onnx
from nasedge.nn.mobilenetv3 import build_mobilenetv3
from nasedge.spaces import get_space, list_spaces
from nasedge.supernet import build_supernet


def scrambled(space):
    torch.manual_seed(0)
    net = build_supernet(space)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
        for name, p in net.named_parameters():
            if "transforms" in name:
                p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parity", type=int, default=200)
    ap.add_argument("--onnx", type=int, default=50)
    ap.add_argument("--macs", type=int, default=50)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    results = {}
    for name in list_spaces():
        space = get_space(name)
        net = scrambled(space)
        archs = space.sample_many(max(args.parity, args.onnx, args.macs), seed := 1234)
        rel, param_mismatch = [], 0
        for arch in track(archs[: args.parity], description=f"{name} parity"):
            x = torch.randn(2, 3, arch.resolution, arch.resolution)
            net.set_active(arch)
            with torch.no_grad():
                ref = net(x)
                sub = net.extract(arch)
                out = sub(x)
            rel.append(float((out - ref).abs().max() / ref.abs().max()))
            param_mismatch += sum(p.numel() for p in sub.parameters()) != arch_cost(arch, space).params
        onnx_diff = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, arch in enumerate(track(archs[: args.onnx], description=f"{name} onnx")):
                sub = net.extract(arch)
                onnx_diff.append(check_onnx(export_onnx(sub, arch, Path(tmp) / f"{i}.onnx"), sub, arch, atol=1.0))
        mac_err = []
        for arch in track(archs[: args.macs], description=f"{name} macs"):
            model = build_mobilenetv3(arch, space).eval()
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model(torch.randn(1, 3, arch.resolution, arch.resolution))
            measured = counter.get_total_flops() / 2
            mac_err.append(abs(arch_cost(arch, space).macs - measured) / measured)
        results[name] = {
            "seed": seed,
            "parity_archs": len(rel), "parity_max_rel_diff": max(rel), "param_count_mismatches": param_mismatch,
            "onnx_archs": len(onnx_diff), "onnx_max_abs_diff": max(onnx_diff),
            "macs_archs": len(mac_err), "macs_max_rel_error": max(mac_err),
        }
        print(json.dumps({name: results[name]}))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nasedge.cli", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    results["help_seconds_median_of_5"] = statistics.median(times)
    print(json.dumps({"help_seconds_median_of_5": results["help_seconds_median_of_5"]}))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
