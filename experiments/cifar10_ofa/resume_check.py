"""A training run killed mid-epoch and restarted ends where an uninterrupted run ends.

    python experiments/cifar10_ofa/resume_check.py [--data ../shared/datasets/cifar10-jpeg.npz] [--out runs/resume_check]

Real CIFAR-10 images (5,000 training, 2,000 test, resized to 24 px) and every progressive-shrinking
phase of the tiny space, on the CPU. Run A is uninterrupted. Run B is the same command, killed with
SIGKILL a moment after its second epoch checkpoint (mid-epoch), then started again until it finishes.
Prints both runs' per-epoch top-1 and whether the final weights are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/cifar10-jpeg.npz")
    ap.add_argument("--out", default="runs/resume_check")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    common = ["search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={args.data}",
              "data.image_size=24", "data.limit_train=5000", "data.limit_test=2000", "data.recalibration_images=500"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    cmd = lambda d: [sys.executable, "-m", "nasedge.cli", "train", *common, f"train.out_dir={out / d}"]  # noqa: E731
    t = time.time()
    subprocess.run(cmd("A"), check=True, env=env, capture_output=True)
    print(f"run A (uninterrupted): {time.time() - t:.0f} s")
    proc = subprocess.Popen(cmd("B"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "B" / "checkpoint" / "checkpoint.json"
    while not (manifest.exists() and json.loads(manifest.read_text())["sequence"] >= 1):
        time.sleep(0.1)
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = json.loads(manifest.read_text())
    print(f"run B killed (SIGKILL) after checkpoint {state['sequence']}; restarting")
    restarts = 0
    while True:
        r = subprocess.run(cmd("B"), env=env, capture_output=True, text=True)
        restarts += 1
        resumed = [line for line in r.stdout.splitlines() if line.startswith("resumed from")]
        print("  " + (resumed[0] if resumed else "(no resume line)"))
        if r.returncode == 0:
            break
    a = json.loads((out / "A" / "metrics.json").read_text())
    b = json.loads((out / "B" / "metrics.json").read_text())
    print(f"{'phase':8s} {'epoch':>5s}  {'A max':>6s} {'B max':>6s}  {'A min':>6s} {'B min':>6s}")
    for x, y in zip(a, b):
        print(f"{x['phase']:8s} {x['epoch']:5d}  {x['top1_max']:6.2f} {y['top1_max']:6.2f}  "
              f"{x['top1_min']:6.2f} {y['top1_min']:6.2f}")
    sa = torch.load(out / "A" / "supernet.pt", weights_only=True)["state_dict"]
    sb = torch.load(out / "B" / "supernet.pt", weights_only=True)["state_dict"]
    same = all(torch.equal(sa[k], sb[k]) for k in sa)
    print(f"final weights identical: {same}")
    (out / "result.json").write_text(json.dumps({"A": a, "B": b, "identical_weights": same}, indent=1))


if __name__ == "__main__":
    main()
