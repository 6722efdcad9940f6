"""Measure the latency of architectures on a device.

  nasedge measure --device cpu-ort-t1 --space ofa_mbv3_cifar --num-archs 20 --out lat.csv
  nasedge measure --device jetson-orin --archs archs.jsonl --out lat.csv --ray-address HEAD:6379
  nasedge measure --device cpu-ort-t1 --space ofa_mbv3_w1.2 --table --resolutions 160,224 --out lut.json

Appends one CSV row per arch (median, p90, spread, noise flag and reason, where it ran) as soon as it
is measured (fsynced: a kill loses at most the archs in flight); running the same command again
resumes where it stopped. ``--table`` measures every part of the space (the lookup table of predictor
``lut``) instead, kept part by part in ``<out>.partial.jsonl`` until ``<out>`` is written. Progress: a
bar on a terminal, otherwise a plain line every few seconds. Noisy results are flagged in the file and
reported; with --strict they make the command fail (exit 2).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", required=True, metavar="NAME", help="device name (nasedge devices) or a device YAML")
    parser.add_argument("--space", help="search space of sampled archs (default: the configured space)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--num-archs", type=int, metavar="N", help="sample N distinct archs of the space")
    src.add_argument("--archs", metavar="FILE.jsonl", help="archs to measure (JSON lines, optional arch_id)")
    src.add_argument("--table", action="store_true",
                     help="measure the space's lookup table (every part; predictor lut --table FILE.json)")
    parser.add_argument("--resolutions", metavar="R,R,...", help="--table: input sizes (default all of the space)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default: the configured seed)")
    parser.add_argument("--out", required=True, metavar="FILE.csv",
                        help="measurements CSV, or with --table the table's JSON file (resumed if interrupted)")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="Ray cluster of devices reached through Ray")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) when any measurement is noisy")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="configuration overrides, e.g. +device.measure.protocol.tolerance=0.02")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nasedge.arch import read_archs_jsonl
    from nasedge.config import compose_with_device
    from nasedge.errors import NasedgeError
    from nasedge.measure import measure_to_csv
    from nasedge.progress import progress_reporter
    from nasedge.spaces import get_space

    cfg, device = compose_with_device(args.device, args.overrides)
    device.check_measurable()
    if args.table:
        return _run_table(args, cfg, device)
    if args.archs:
        rows = read_archs_jsonl(args.archs)
        for i, (arch_id, arch) in enumerate(rows):
            if args.space and arch.space != args.space:
                raise NasedgeError(f"{args.archs}: arch {arch_id} is in space {arch.space!r}, not --space {args.space}")
            rows[i] = (arch_id, get_space(arch.space).validate(arch, source=f"{args.archs} (arch {arch_id})"))
        first: dict = {}  # arch -> the position of its first row
        for n, (_, arch) in enumerate(rows):
            first.setdefault(arch, n)
        again = [(arch_id, rows[first[a]][0]) for n, (arch_id, a) in enumerate(rows) if first[a] != n]
        if again:  # `predictor fit` refuses a file holding an arch twice: it is measured once
            print(f"nasedge: warning: {args.archs}: {len(again)} {'archs repeat' if len(again) > 1 else 'arch repeats'} "
                  f"an earlier one (first: arch {again[0][0]} is arch {again[0][1]}); each is measured once",
                  file=sys.stderr)
            rows = [row for n, row in enumerate(rows) if first[row[1]] == n]
    else:
        if args.num_archs < 1:
            raise NasedgeError(f"--num-archs: value {args.num_archs} is not valid; expected a positive count")
        space = get_space(args.space or device.config.space or cfg.search_space.name)
        seed = cfg.seed if args.seed is None else args.seed
        archs = space.sample_many(args.num_archs, seed, unique=args.num_archs <= space.num_archs())
        rows = [(str(i), a) for i, a in enumerate(archs)]
    if not rows:
        raise NasedgeError(f"{args.archs}: no archs to measure")

    out = Path(args.out)
    with progress_reporter(f"measure {device.name}", len(rows), unit="archs") as update:
        report = resuming_progress(update, out, device.name, "archs")
        results = measure_to_csv(device, rows, out, ray_address=args.ray_address, progress=report, once_per_arch=True)
    asked = {a for _, a in rows}   # the file's other rows (earlier runs') are neither summed up nor held against it
    mine = [m for m in results if m.arch in asked]
    noisy = [m for m in mine if m.noisy]
    medians = sorted(m.median_ms for m in mine)
    held = f" (the file holds {len(results)})" if len(results) > len(mine) else ""
    print(f"{device.name}: {len(mine)} archs in {out}{held} (median latency {medians[len(medians) // 2]:.3f} ms, "
          f"range {medians[0]:.3f}..{medians[-1]:.3f} ms); {len(noisy)} flagged noisy")
    if noisy:
        print(f"nasedge: warning: {len(noisy)} of {len(mine)} measurements are noisy (column 'noisy'); "
              f"first: arch {noisy[0].arch_id}: {noisy[0].reason}", file=sys.stderr)
        if args.strict:
            raise NasedgeError(f"{len(noisy)} of {len(mine)} measurements are noisy (--strict); they are "
                               f"flagged in {out}; measure on a quieter machine or loosen the protocol")
    return 0


def _run_table(args: argparse.Namespace, cfg, device) -> int:
    from nasedge.commands.inputs import parse_resolutions
    from nasedge.errors import NasedgeError
    from nasedge.measure import measure_lookup_table_to_file
    from nasedge.progress import progress_reporter
    from nasedge.spaces import get_space

    space = get_space(args.space or device.config.space or cfg.search_space.name)
    resolutions = parse_resolutions("--resolutions", args.resolutions, space.name) if args.resolutions else None
    warn = lambda message: print(f"nasedge: warning: {message}", file=sys.stderr)  # noqa: E731
    with progress_reporter(f"measure {device.name} table", unit="parts") as update:
        table = measure_lookup_table_to_file(device, space.name, args.out, resolutions, ray_address=args.ray_address,
                                             progress=resuming_progress(update, args.out, device.name, "parts"), warn=warn)
    medians = sorted(e.median_ms for e in table.entries.values())
    print(f"{device.name}: lookup table of {space.name} at {table.meta['resolutions']} px, {len(table)} parts in "
          f"{args.out} (part median {medians[len(medians) // 2]:.4f} ms)")
    noisy = [key for key, entry in table.entries.items() if entry.stats.get("noisy")]
    if noisy:  # as for archs: said, kept in the table (field 'noisy'), and an error with --strict
        warn(f"{len(noisy)} of {len(table)} parts are noisy (field 'noisy' of their entries); first: {noisy[0]}: "
             f"{table.entries[noisy[0]].stats.get('reason') or 'no reason given'}")
        if args.strict:
            raise NasedgeError(f"{len(noisy)} of {len(table)} parts are noisy (--strict); they are flagged in "
                               f"{args.out}; measure on a quieter machine or loosen the protocol")
    return 0


def resuming_progress(update, out, device: str, unit: str):
    """``update`` (a progress reporter's), first saying on stderr when the run resumes work already in ``out``."""
    first = True

    def report(done: int, total: int) -> None:
        nonlocal first
        if first and done:
            # done counts rounds of timing in parts of a whole (a group's archs are written when the group ends)
            print(f"{out}: all {total} {unit} already measured on {device}" if done >= total else
                  f"resuming {out}: {done:.0f} of {total} {unit}' worth of timings already taken on {device}",
                  file=sys.stderr)
        first = False
        update(done, total)

    return report
