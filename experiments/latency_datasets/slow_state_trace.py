"""Trace the two-thread slow state of this machine: which workloads it slows down, and which not.

    setsid -w nice -n -5 python experiments/latency_datasets/slow_state_trace.py --seconds 60

Times, in turn, 0.1 s windows of: the first w1.2 arch of the dataset (204 px) with two and one
onnxruntime threads, the machine check's probe with two and one threads, and a probe on a small map
(128 channels, 14 px) with two threads; repeats for ``--seconds``. A window is "slow" when the
two-thread arch is more than 30 % above its 5th percentile. Prints the share of slow windows, each
workload's median in fast and slow windows, the two-thread process's CPU share and the CPUs' steal time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from nasedge.arch import read_archs_jsonl
from nasedge.measure.measurer import pinned
from nasedge.measure.runtime import get_runtime
from nasedge.measure.workload import Artifacts, Probe, Subnet

ROOT = Path(__file__).resolve().parents[2]


def steal_ticks() -> int:
    with open("/proc/stat") as f:
        return sum(int(line.split()[8]) for line in f if line.startswith("cpu") and not line.startswith("cpu "))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args()
    _, arch = read_archs_jsonl(ROOT / "latency_predictors/data/ofa_mbv3_w1.2/archs.jsonl")[0]
    ort = get_runtime("onnxruntime")
    two, one = ort(threads=2), ort(threads=1)
    cores = sorted(os.sched_getaffinity(0))
    jobs = [("arch 204 px, 2 threads", two, Subnet(arch), cores[-2:]),
            ("arch 204 px, 1 thread", one, Subnet(arch), cores[-1:]),
            ("probe (48 ch, 56 px), 2 threads", two, Probe(), cores[-2:]),
            ("probe (48 ch, 56 px), 1 thread", one, Probe(), cores[-1:]),
            ("small map (128 ch, 14 px), 2 threads", two, Probe(128, 14), cores[-2:])]
    artifacts = Artifacts()
    runners = []
    for _, runtime, workload, _ in jobs:
        runtime.prepare(workload, artifacts)
        runners.append(runtime.load(workload, artifacts))
    rows, shares, steal = [], [], []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        row, s0 = [], steal_ticks()
        for run, (_, _, _, use) in zip(runners, jobs):
            with pinned(use):
                for _ in range(3):
                    run()
                c, t, times = time.process_time(), time.perf_counter(), []
                while time.perf_counter() - t < 0.1:
                    times.append(run())
                if len(use) == 2 and not row:
                    shares.append((time.process_time() - c) / (time.perf_counter() - t) / 2)
            row.append(float(np.median(times)))
        rows.append(row)
        steal.append(steal_ticks() - s0)
    m = np.array(rows)
    slow = m[:, 0] > 1.3 * np.percentile(m[:, 0], 5)
    print(f"{len(m)} windows, {slow.mean():.0%} slow")
    for j, (name, *_rest) in enumerate(jobs):
        fast_ms = np.median(m[~slow, j]) if (~slow).any() else float("nan")
        slow_ms = np.median(m[slow, j]) if slow.any() else float("nan")
        print(f"  {name:38s} fast {fast_ms:7.3f} ms  slow {slow_ms:7.3f} ms  ratio {slow_ms / fast_ms:.2f}")
    shares_a, steal_a = np.array(shares), np.array(steal)
    for label, sel in (("fast", ~slow), ("slow", slow)):
        if sel.any():
            print(f"  {label} windows: two-thread CPU share {shares_a[sel].mean():.2f}, "
                  f"steal {steal_a[sel].mean():.2f} ticks per window")


if __name__ == "__main__":
    main()
