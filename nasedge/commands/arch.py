"""Sample, validate and count architectures.

  nasedge arch sample --space ofa_mbv3_w1.2 -n 5 --seed 0     JSON lines on stdout
  nasedge arch validate arch.json                             exit 0 if valid, 2 with the field named if not
  nasedge arch stats arch.json                                parameters and multiply-accumulates
  nasedge arch validate --space my_space.yaml archs.jsonl     archs of a space of one's own
"""

from __future__ import annotations

import argparse
import json
import sys


MAX_SAMPLE = 1_000_000
SPACE_HELP = "the space of archs that name it (a space YAML of your own; installed spaces are found by name)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="arch_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    p = sub.add_parser("sample", help="print archs of a space as JSON lines")
    p.add_argument("--space", help="search space name or YAML path (default: the configured space)")
    p.add_argument("-n", "--num", type=int, default=1, help="number of archs (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the configured seed)")
    p.add_argument("--which", choices=("random", "min", "max"), default="random")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")
    p.set_defaults(_run=run_sample)
    p = sub.add_parser("validate", help="check arch files (JSON, or JSON lines) against their space")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--space", metavar="FILE.yaml", help=SPACE_HELP)
    p.set_defaults(_run=run_validate)
    p = sub.add_parser("stats", help="parameters and MACs of an arch")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--space", metavar="FILE.yaml", help=SPACE_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(_run=run_stats)


def run(args: argparse.Namespace) -> int:  # dispatched through the sub-command's own _run
    return args._run(args)


def _load(path: str, space: str | None = None, used: bool = False):
    from nasedge.arch import Arch, read_archs_jsonl
    from nasedge.commands.inputs import space_shapes, spaces_of
    from nasedge.errors import NasedgeError

    if path.endswith(".jsonl"):  # `used` is of the file, not of each line: spaces_of checks it
        archs = [a for _, a in read_archs_jsonl(path, space_shapes(space, option=True))]
    else:
        archs = [Arch.load(path, space_shapes(space, option=True, used=used))]
    if not archs:  # as `nasedge measure` says: an empty file is more likely a mistake than a result
        raise NasedgeError(f"{path}: no archs")
    spaces = spaces_of(path, archs, space, option=True, used=used)
    return [(spaces[a.space].validate(a, source=path), spaces[a.space]) for a in archs]


def run_sample(args: argparse.Namespace) -> int:
    from nasedge.config import compose
    from nasedge.errors import NasedgeError
    from nasedge.spaces import get_space

    if not 1 <= args.num <= MAX_SAMPLE:  # more would only fill the terminal for hours
        raise NasedgeError(f"-n: value {args.num} is not valid; expected 1-{MAX_SAMPLE}")
    cfg = compose(args.overrides)
    space = get_space(args.space or cfg.search_space.name)
    seed = cfg.seed if args.seed is None else args.seed
    if args.which == "min":
        archs = [space.min_arch()] * args.num
    elif args.which == "max":
        archs = [space.max_arch()] * args.num
    else:
        archs = space.sample_many(args.num, seed, unique=args.num <= space.num_archs())
    print("\n".join(a.to_json() for a in archs))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from nasedge.commands.inputs import given_space
    from nasedge.errors import NasedgeError

    if args.space is not None:  # once, not as the fault of every file
        given_space(args.space)
    bad = []  # every file is checked: one bad file of many says nothing about the others
    for path in args.files:
        try:
            archs = _load(path, args.space)
        except NasedgeError as exc:
            if len(args.files) == 1:
                raise
            print(f"nasedge: error: {exc}", file=sys.stderr)
            bad.append(path)
            continue
        for arch, _ in archs:
            print(f"{path}: ok {arch.digest()} ({arch.space}, resolution {arch.resolution})")
    if bad:
        raise NasedgeError(f"{len(bad)} of {len(args.files)} files are not valid (first: {bad[0]})")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from nasedge.cost import arch_cost

    for arch, space in _load(args.file, args.space, used=True):
        cost = arch_cost(arch, space)
        if args.json:
            print(json.dumps({"digest": arch.digest(), "space": arch.space, "resolution": arch.resolution,
                              "params": cost.params, "macs": cost.macs}))
        else:
            print(f"{arch.digest()} {arch.space} r{arch.resolution}: "
                  f"{cost.params / 1e6:.3f} M params, {cost.macs / 1e6:.2f} M MACs")
    return 0
