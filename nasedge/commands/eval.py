"""Top-1 accuracy of subnets of a supernet (BatchNorm recalibrated on a fixed training subset).

  nasedge eval --arch max                           the embedded supernet, its shipped evaluation data
  nasedge eval --arch random:10 --json
  nasedge eval --arch arch.json --supernet runs/cifar10_ofa/supernet.pt data=cifar10
  nasedge eval --arch random:2000 --out acc.jsonl   appends one JSON line per arch; re-running resumes
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True,
                        help="FILE.json, FILE.jsonl, min, max or random:N (N archs, seeded by seed=K)")
    parser.add_argument("--supernet", metavar="PATH", help="supernet checkpoint (default: the configured one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per arch")
    parser.add_argument("--out", metavar="FILE.jsonl", help="append results here, skipping archs already in it")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA (faster, slightly different)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--batch-size", type=int, default=500, help="test images per forward (default 500)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")


def parse_arch_spec(spec: str, space, seed: int) -> list:
    """``min``, ``max``, ``random:N`` or a JSON / JSON-lines file -> archs of ``space``."""
    from nasedge.arch import Arch, read_archs_jsonl
    from nasedge.errors import NasedgeError

    if spec in ("min", "max"):
        return [space.min_arch() if spec == "min" else space.max_arch()]
    if spec.startswith("random:"):
        try:
            n = int(spec.split(":", 1)[1])
            assert n > 0
        except (ValueError, AssertionError):
            raise NasedgeError(f"--arch: value {spec!r} is not valid; expected random:N with N > 0") from None
        return space.sample_many(n, seed)
    archs = [a for _, a in read_archs_jsonl(spec)] if spec.endswith(".jsonl") else [Arch.load(spec)]
    return [space.validate(a, source=spec) for a in archs]


def run(args: argparse.Namespace) -> int:
    import torch
    from omegaconf import OmegaConf
    from rich.progress import Progress

    from nasedge.arch import Arch
    from nasedge.config import compose
    from nasedge.cost import arch_cost
    from nasedge.data import load_dataset, recalibration_subset
    from nasedge.errors import NasedgeError
    from nasedge.supernet.accuracy import evaluate_arch
    from nasedge.supernet import load_supernet

    cfg = compose(args.overrides)
    path = args.supernet or cfg.supernet.checkpoint
    if not path:
        raise NasedgeError("no supernet configured; pass --supernet PATH")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    supernet = load_supernet(path, map_location=device)
    space = supernet.space
    archs = parse_arch_spec(args.arch, space, cfg.seed)
    done: set = set()
    if args.out:
        from pathlib import Path

        out_path = Path(args.out)
        if out_path.exists():
            lines = out_path.read_text().splitlines()
            for i, line in enumerate(lines):
                try:
                    done.add(Arch.from_dict(json.loads(line)["arch"]))
                except (json.JSONDecodeError, KeyError):
                    if i != len(lines) - 1:
                        raise NasedgeError(f"{out_path}:{i + 1}: not a result line; use another --out file") from None
                    # a run killed while writing leaves a cut-off last line: drop it
                    out_path.write_text("".join(x + "\n" for x in lines[:-1]))
    todo = [a for a in archs if a not in done]
    data = OmegaConf.to_object(cfg.data)
    train, test = load_dataset(data)
    recal = recalibration_subset(train, data).to(device)
    test = test.to(device)
    if device.type == "cuda":
        supernet = supernet.to(memory_format=torch.channels_last)
    out = open(args.out, "a") if args.out else None
    try:
        with Progress(transient=True, disable=len(todo) < 2) as progress:
            task = progress.add_task("evaluating", total=len(todo))
            for arch in todo:
                acc = evaluate_arch(supernet, arch, recal, test, data, batch_size=args.batch_size, amp=args.amp)
                cost = arch_cost(arch, space)
                record = {"arch": arch.to_dict(), "digest": arch.digest(), "top1": round(acc, 4),
                          "params": cost.params, "macs": cost.macs}
                if out:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                if args.json:
                    print(json.dumps(record), flush=True)
                else:
                    print(f"{arch.digest()} r{arch.resolution} {cost.macs / 1e6:7.2f} M MACs  top-1 {acc:.2f} %",
                          flush=True)
                progress.advance(task)
    finally:
        if out:
            out.close()
    if done and len(todo) < len(archs):
        print(f"skipped {len(archs) - len(todo)} archs already in {args.out}")
    return 0
