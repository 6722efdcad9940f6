"""Top-1 accuracy of subnets of a supernet (BatchNorm recalibrated on a fixed training subset).

  nasedge eval --arch max                           the embedded supernet, its shipped evaluation data
  nasedge eval --arch random:10 --json
  nasedge eval --arch arch.json --supernet runs/cifar10_ofa/supernet.pt data=cifar10
  nasedge eval --arch random:2000 --out acc.jsonl   appends one JSON line per arch; re-running resumes
  torchrun --nproc-per-node=4 -m nasedge eval --arch random:2000 --out acc.jsonl   archs split over 4 GPUs

Under torchrun each rank evaluates every world-size-th arch, appending to ``FILE.jsonl.rank<R>``
as it goes (a killed run resumes from those too); rank 0 then merges them into ``--out`` in the
order of the archs and prints this run's results. A rerun merges the rank files a stopped run left, with or
without torchrun.
"""

from __future__ import annotations

import argparse
import json
import re
from contextlib import nullcontext
from pathlib import Path


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
    if spec.endswith(".jsonl"):
        archs = [a for _, a in read_archs_jsonl(spec, space.shape_of)]
    else:
        archs = [Arch.load(spec, space.shape_of)]
    return [space.validate(a, source=spec) for a in archs]


def _print_record(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
    else:
        print(f"{record['digest']} r{record['arch']['resolution']} {record['macs'] / 1e6:7.2f} M MACs  "
              f"top-1 {record['top1']:.2f} %", flush=True)


def _rank_files(out: str | Path) -> list[Path]:
    """The ranks' files of ``out`` (``OUT.rank<R>``, by rank): a name with glob characters is matched as it is,
    and a file such as ``OUT.rank0.bak`` is not one."""
    out = Path(out)
    pattern = re.compile(re.escape(out.name) + r"\.rank(\d+)")
    try:
        found = [(int(m.group(1)), p) for p in out.parent.iterdir() if (m := pattern.fullmatch(p.name))]
    except FileNotFoundError:
        return []
    return [p for _, p in sorted(found)]


def _merge_parts(out: str, archs: list) -> None:
    """Every record of the rank files ``OUT.rank<R>`` (this run's, and those of an earlier run that stopped) appended
    to ``out`` unless it holds the arch already, this run's archs first in their order; then the rank files go.

    A kill during the merge loses nothing: the rank files outlive the appended lines, and a rerun merges again
    what ``out`` does not hold yet."""
    import os

    from nasedge.arch import Arch
    from nasedge.jsonlines import read_json_lines

    parts = _rank_files(out)
    if not parts:
        return

    def digest(record: dict) -> str:  # every line was checked to hold an arch when the run started
        return Arch.from_dict(record["arch"]).digest()

    have = {digest(r) for _, r in read_json_lines(out)} if Path(out).exists() else set()
    records: dict[str, dict] = {}
    for part in parts:
        for _, r in read_json_lines(part):
            records.setdefault(digest(r), r)
    order = {a.digest(): i for i, a in enumerate(archs)}
    todo = sorted((r for d, r in records.items() if d not in have), key=lambda r: order.get(digest(r), len(order)))
    with open(out, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in todo)
        f.flush()
        os.fsync(f.fileno())
    for part in parts:
        part.unlink()


def _merge_ranks(world, archs: list, args: argparse.Namespace, results: list[dict]) -> None:
    """Rank 0: every rank's records into ``--out`` (:func:`_merge_parts`); this run's printed in arch order."""
    gathered = {r["digest"]: r for rank in world.gather(results) for r in rank}
    if not world.is_main:
        return
    if args.out:
        _merge_parts(args.out, archs)
    for a in archs:
        if a.digest() in gathered:
            _print_record(gathered.pop(a.digest()), args.json)


def run(args: argparse.Namespace) -> int:
    import os

    from nasedge.train.distributed import collective_failure_in_one_line
    from nasedge.writer_lock import locked_file

    kept = (f"the archs finished are kept in {args.out}.rank<R> and the same command goes on from them" if args.out
            else "nothing was kept (no --out)")
    # one run at a time appends to --out (under torchrun: rank 0's, whose refusal stops the others)
    lock = locked_file(args.out, "results file") if args.out and os.environ.get("RANK", "0") == "0" else nullcontext()
    with collective_failure_in_one_line(kept), lock:
        return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    import sys

    import torch
    from omegaconf import OmegaConf

    from nasedge.config import compose
    from nasedge.cost import arch_cost
    from nasedge.data import dataset_classes, load_evaluation_data
    from nasedge.errors import NasedgeError
    from nasedge.jsonlines import appending_json_lines
    from nasedge.predict.accuracy_samples import done_archs, evaluation_context
    from nasedge.progress import progress_reporter
    from nasedge.supernet.accuracy import check_classes, evaluate_arch
    from nasedge.supernet import load_supernet
    from nasedge.train.distributed import init_world

    world = init_world(args.device)
    cfg = compose(args.overrides)
    path = args.supernet or cfg.supernet.checkpoint
    if not path:
        raise NasedgeError("no supernet configured; pass --supernet PATH")
    device = world.device
    supernet = load_supernet(path, map_location=device)
    space = supernet.space
    archs = parse_arch_spec(args.arch, space, cfg.seed)
    if len(set(archs)) < len(archs):  # a file that lists an arch twice: one result each (a fit refuses two)
        if world.is_main:
            print(f"nasedge: warning: {args.arch}: {len(archs) - len(set(archs))} repeated archs are evaluated once",
                  file=sys.stderr)
        archs = list(dict.fromkeys(archs))
    data = OmegaConf.to_object(cfg.data)
    check_classes(supernet.num_classes, len(dataset_classes(data)), path, data.path)  # before the data is decoded
    context = evaluation_context(path, data) if args.out else None  # hashes the supernet file: for --out only
    done: set = set()
    if args.out and world.is_main:   # the other ranks get rank 0's view before any of them writes
        out_path = Path(args.out)
        # the merged file and the ranks' parts of a distributed run that did not finish
        for part in [out_path, *_rank_files(out_path)]:
            done |= done_archs(part, "results file of nasedge eval", context=context)
    done = world.broadcast(done)
    todo = [a for a in archs if a not in done]
    mine = todo[world.rank::world.size]
    recal, test = load_evaluation_data(data)
    recal, test = recal.to(device), test.to(device)
    if device.type == "cuda":
        supernet = supernet.to(memory_format=torch.channels_last)
    part = f"{args.out}.rank{world.rank}" if args.out and world.launched else args.out
    results: list[dict] = []
    show = not world.launched   # one process prints as it goes; under torchrun rank 0 prints the merged file
    # durable per arch (a rerun after a crash takes it from the file); no empty file before the first record
    with appending_json_lines(part) if part else nullcontext(None) as append:
        if mine and world.is_main:  # an arch takes minutes on a CPU: say what runs before the first result
            print(f"evaluating {len(mine)} arch{'s' * (len(mine) > 1)} on {device}"
                  f"{f' ({world.size} processes)' if world.launched else ''}: BatchNorm recalibrated on "
                  f"{len(recal)} training images, then top-1 on {len(test)} test images each", file=sys.stderr,
                  flush=True)
        # per batch, not per arch: one arch is minutes of silence on a CPU. A lone arch counts its images, several
        # count archs, the one in flight as its share of images done
        one = len(mine) == 1
        reporter = progress_reporter("evaluate", None if one else len(mine), unit="images" if one else "archs") \
            if world.is_main and mine else nullcontext(lambda *_: None)
        with reporter as update:
            for i, arch in enumerate(mine, start=1):
                step = update if one else lambda done, total, i=i: update(i - 1 + done / total)
                acc = evaluate_arch(supernet, arch, recal, test, data, batch_size=args.batch_size, amp=args.amp,
                                    progress=step)
                cost = arch_cost(arch, space)
                record = {"arch": arch.to_dict(), "digest": arch.digest(), "top1": round(acc, 4),
                          "params": cost.params, "macs": cost.macs, **({"context": context} if context else {})}
                if append is not None:
                    append(record)
                results.append(record)
                if show:
                    _print_record(record, args.json)
    if world.launched:
        _merge_ranks(world, archs, args, results)
        world.close()
    elif args.out:  # the rank files of a distributed run that stopped: their archs were skipped, their records kept
        _merge_parts(args.out, archs)
    if done and len(todo) < len(archs) and world.is_main:
        print(f"skipped {len(archs) - len(todo)} archs already in {args.out}")
    return 0
