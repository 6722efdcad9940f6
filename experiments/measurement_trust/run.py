"""Measurement trust: the same archs measured twice, independently, on one device; how far apart?

  setsid -w python experiments/measurement_trust/run.py [--device cpu-ort-t1] [--num-archs 50]

Takes the first N archs of latency_predictors/data/ofa_mbv3_w1.2 (HELP's ofa ids 0..N-1), measures them
on the device (pass 1), then again from scratch (pass 2: rebuilt networks, new sessions), and reports
the median / p90 / max absolute difference between the passes in percent of their mean, with the
spread of single timings, the relative standard error of the medians, the CPU share the measurements
got and how many were flagged noisy. Writes results.json next to this script (or --out). Bad input (device,
protocol field, count, an unwritable --out) is one line, exit status 2, before anything is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.arch import read_archs_jsonl  # noqa: E402
from nasedge.atomic import atomic_write_text, check_out_dir  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.measure import Artifacts, Device, get_device  # noqa: E402
from nasedge.measure.measurer import cpu_model, raise_priority  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def summary(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "max": float(v.max()),
            "min": float(v.min())} if len(v) else {}


def protocol_changes(pairs: list[str]) -> dict:
    """``KEY=VALUE`` of --protocol, the value read as JSON (``3``, ``0.5``, ``true``) or else taken as text."""
    changes = {}
    for kv in pairs:
        key, eq, value = kv.partition("=")
        if not eq or not key.strip():
            raise NasedgeError(f"--protocol: {kv!r} is not KEY=VALUE (e.g. group_size=25)")
        try:
            changes[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            changes[key.strip()] = value
    return changes


def main() -> int:
    p = ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu-ort-t1")
    p.add_argument("--num-archs", type=positive_int, default=50)
    p.add_argument("--priority", type=int, default=-5, help="nice value (and autogroup nice) to run at")
    p.add_argument("--protocol", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override protocol fields of the device, e.g. group_size=25 min_rounds=8")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json")
    args = p.parse_args()
    device = get_device(args.device)
    device.check_measurable()
    if args.protocol:
        changes = protocol_changes(args.protocol)
        config = {**vars(device.config), "data": [vars(d) for d in device.data]}
        config["measure"] = {**config["measure"], "protocol": {**(config["measure"].get("protocol") or {}), **changes}}
        device = Device.from_config(config, f"{device.source} with --protocol {' '.join(args.protocol)}")
        device.protocol()  # its fields checked before the work
    check_out_dir("--out", str(args.out.parent), given=str(args.out))
    priority = raise_priority(args.priority)
    rows = read_archs_jsonl(ROOT / "latency_predictors" / "data" / "ofa_mbv3_w1.2" / "archs.jsonl")[:args.num_archs]
    ids, archs = [i for i, _ in rows], [a for _, a in rows]
    passes, seconds, loads = [], [], []
    for k in range(2):
        loads.append(os.getloadavg()[0])
        t = time.perf_counter()
        passes.append(device.measure(archs, arch_ids=ids, artifacts=Artifacts()))
        seconds.append(time.perf_counter() - t)
        print(f"pass {k + 1}: {seconds[-1]:.0f} s, load average {loads[-1]:.2f}", flush=True)
    def abs_diff(stat: str) -> np.ndarray:
        x = np.array([getattr(m.stats, stat) for m in passes[0]])
        y = np.array([getattr(m.stats, stat) for m in passes[1]])
        return 100 * np.abs(x - y) / ((x + y) / 2)

    a = np.array([m.median_ms for m in passes[0]])
    b = np.array([m.median_ms for m in passes[1]])
    diff = abs_diff("median_ms")
    shift = 100 * float(np.median((b - a) / a))
    from scipy.stats import spearmanr

    result = {
        "command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "device": device.name,
        "protocol": device.config.measure.get("protocol"),
        "cpu": cpu_model(), "priority": priority, "num_archs": len(archs),
        "abs_diff_percent": summary(diff),
        "signed_shift_percent": shift,  # median of (pass2 - pass1) / pass1: a level change of the machine
        "abs_diff_percent_after_shift": summary(np.abs(100 * (b - a) / a - shift)),
        "abs_diff_percent_of_p90": summary(abs_diff("p90_ms")),
        "abs_diff_percent_of_min": summary(abs_diff("min_ms")),
        "spearman": float(spearmanr(a, b).statistic),
        "latency_ms": summary(np.concatenate([a, b])),
        "passes": [{
            "seconds": round(s, 1), "load_average_1min_at_start": load,
            "spread_percent": summary([100 * m.spread for m in ms]),
            "rse_percent": summary([100 * m.stats.rse for m in ms]),
            "cpu_share": summary([m.stats.cpu_share for m in ms]),
            "rounds": summary([m.stats.rounds for m in ms]),
            "noisy": sum(m.noisy for m in ms),
            "noisy_reasons": sorted({r.split(" (")[0] for m in ms for r in m.reason.split("; ") if r}),
        } for ms, s, load in zip(passes, seconds, loads)],
        "per_arch": [{"arch_id": i, "pass1_ms": round(x, 4), "pass2_ms": round(y, 4), "abs_diff_percent": round(d, 3)}
                     for i, x, y, d in zip(ids, a, b, diff)],
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    d = result["abs_diff_percent"]
    print(f"{device.name}, {len(archs)} archs twice: |difference| median {d['median']:.2f} %, p90 {d['p90']:.2f} %, "
          f"max {d['max']:.2f} %; Spearman {result['spearman']:.4f}; pass 2 vs 1 level shift {shift:+.2f} %, "
          f"|difference| around it median {result['abs_diff_percent_after_shift']['median']:.2f} %")
    print(f"  same for p90: median {result['abs_diff_percent_of_p90']['median']:.2f} %; for the minimum: median "
          f"{result['abs_diff_percent_of_min']['median']:.2f} %")
    for k, ps in enumerate(result["passes"], 1):
        print(f"  pass {k}: spread (IQR/median of single timings) median {ps['spread_percent']['median']:.1f} %, "
              f"p90 {ps['spread_percent']['p90']:.1f} %; rse median {ps['rse_percent']['median']:.2f} %; "
              f"CPU share min {ps['cpu_share'].get('min', float('nan')):.2f}; noisy {ps['noisy']}/{len(archs)}")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
