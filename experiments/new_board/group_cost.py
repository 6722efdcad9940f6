"""What measuring one arch at a time costs against interleaved groups of 25, in one run (cpu-ort-t1).

The same archs are measured alternately (ABAB...) with the device's protocol at ``group_size=25``
(before: one interleaved group) and ``group_size=1`` (after: a kill loses at most the arch in flight),
so both see the same machine load. Prints seconds per arch, the median per-arch latency ratio
after/before, the median robust standard error and spread of each, and the flagged counts.

  cd <repo> && PYTHONPATH=$PWD OMP_NUM_THREADS=1 nice -n 5 python experiments/new_board/group_cost.py --archs 20 --passes 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from nasedge.spaces import get_space


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--passes", type=int, default=2, help="passes of each variant, alternated")
    ap.add_argument("--space", default="ofa_mbv3_cifar")
    ap.add_argument("--out", help="JSON file for the per-pass figures")
    args = ap.parse_args()
    archs = get_space(args.space).sample_many(args.archs, 0, unique=True)
    variants = {"group 25": 25, "group 1": 1}
    runs: dict[str, list] = {k: [] for k in variants}
    for p in range(args.passes):
        for name, size in (variants.items() if p % 2 == 0 else reversed(variants.items())):
            device = _device(size)
            t = time.perf_counter()
            ms = device.measure(archs)
            secs = time.perf_counter() - t
            runs[name].append({"seconds_per_arch": secs / len(archs), "median_ms": [m.median_ms for m in ms],
                               "rse": [m.stats.rse for m in ms], "spread": [m.spread for m in ms],
                               "noisy": sum(m.noisy for m in ms)})
            print(f"pass {p + 1} {name}: {secs / len(archs):.2f} s/arch, {runs[name][-1]['noisy']} noisy", flush=True)
    summary = {}
    for name, rs in runs.items():
        summary[name] = {"seconds_per_arch": float(np.mean([r["seconds_per_arch"] for r in rs])),
                         "rse_median": float(np.median([x for r in rs for x in r["rse"]])),
                         "spread_median": float(np.median([x for r in rs for x in r["spread"]])),
                         "noisy": sum(r["noisy"] for r in rs)}
    before = np.mean([r["median_ms"] for r in runs["group 25"]], axis=0)
    after = np.mean([r["median_ms"] for r in runs["group 1"]], axis=0)
    within = {k: float(np.median(np.abs(np.array(v[0]["median_ms"]) / np.array(v[-1]["median_ms"]) - 1)))
              for k, v in runs.items() if len(v) > 1}
    summary["time_ratio_after_before"] = summary["group 1"]["seconds_per_arch"] / summary["group 25"]["seconds_per_arch"]
    summary["latency_ratio_after_before_median"] = float(np.median(after / before))
    summary["pass_to_pass_abs_diff_median"] = within
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "runs": runs}, f, indent=1)


def _device(group_size: int, name: str = "cpu-ort-t1"):
    """The shipped device ``name`` measuring in groups of ``group_size`` (its protocol otherwise)."""
    from nasedge.measure.device import Device, load_device
    from nasedge.resources import shipped_path

    base = load_device(shipped_path("conf") / "device" / f"{name}.yaml")
    cfg = dict(base.config.measure)
    cfg["protocol"] = {**(cfg.get("protocol") or {}), "group_size": group_size}
    return Device.from_config({"name": name, "where": "local", "description": base.description,
                               "measure": cfg}, "group_cost")


if __name__ == "__main__":
    main()
