"""Run every split x shots through the CLI, one call at a time; resumable. Output: runs/<space>_<name>_s<shots>.{json,err,meta.json}"""

from pathlib import Path
import json
import os
import subprocess
import sys
import time

H = str(Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "latency" / "help")
WORK = os.environ.get("WORK", "/tmp/nasedge_random_splits")  # results folder (splits.json, runs/)
os.makedirs(f"{WORK}/runs", exist_ok=True)


os.environ.update(
    NASEDGE_HOME=f"{WORK}/home", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1"
)
S = json.load(open(f"{WORK}/splits.json"))["splits"]
SEEDS = {10: 1, 20: 3}  # shots 10: samples are the 10 reference archs, every seed identical (checked)
order = sys.argv[1:] or ["10", "20"]
for shots in map(int, order):
    for s in S:
        base = f"{WORK}/runs/{s['space']}_{s['name']}_s{shots}"
        if os.path.exists(base + ".meta.json"):
            continue
        cmd = [
            "nasedge",
            "predictor",
            "eval",
            "--space",
            s["space"],
            "--data",
            f"{H}/{s['space']}",
            "--protocol",
            "untrimmed",
            "--shots",
            str(shots),
            "--seeds",
            str(SEEDS[shots]),
            "--target-device",
            ",".join(s["targets"]),
            "--sources",
            ",".join(s["sources"]),
            "--predictor",
            "meta,flops,regressor,totals,nearest",
            "--ceiling",
            "--json",
        ]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", e.stdout or "", e.stderr or ""
        dt = time.time() - t0
        open(base + ".json", "w").write(out if isinstance(out, str) else out.decode())
        open(base + ".err", "w").write(err if isinstance(err, str) else err.decode())
        json.dump(
            dict(cmd=" ".join(cmd), rc=rc, seconds=dt, split=s, shots=shots), open(base + ".meta.json", "w")
        )
        print(f"{s['space']} {s['name']} shots {shots}: rc {rc} {dt:.1f}s err {len(err)}B", flush=True)
