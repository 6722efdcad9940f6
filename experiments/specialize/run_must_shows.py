"""The speed and budget must-shows of `nasedge specialize` on the local `cpu` device, in one bounded run.

    python experiments/specialize/run_must_shows.py [--out experiments/specialize/results/must_shows.json]
        [--ship-profile]

1. no profile: `nasedge specialize --device cpu --latency 20ms` with an empty profiles folder, so the 20
   profile archs are measured on this CPU first (target <= 180 s);
2. stored profile: the same command again, now loading the profile step 1 stored (target <= 60 s);
3. budgets at the 25th, 50th and 75th percentile of the latencies measured on the device in step 1
   (the profile's 20 archs, spread over the space's MACs): the pick's measured latency must be within
   its budget (3 % tolerance);
4. `--device titan_rtx_64` (published data only): specializes, the manifest says unverified.

Every run is the installed CLI in a fresh working folder (a subprocess, timed end to end, stage times from
its manifest). The load average is recorded before and after each run. `--ship-profile` copies the profile
measured in step 1 to latency_predictors/profiles/ (run it on a quiet machine). Takes about 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def specialize(work: Path, name: str, args: list[str]) -> dict:
    out = work / name
    cmd = [sys.executable, "-m", "nasedge.cli", "specialize", *args, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    before, start = load(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run = {"name": name, "command": "nasedge specialize " + " ".join(args), "wall_s": round(wall, 1),
           "exit": proc.returncode, "load_before": before, "load_after": load()}
    if proc.returncode != 0:
        run["error"] = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
        print(proc.stderr, file=sys.stderr)
        return run
    m = json.loads((out / "manifest.json").read_text())
    run.update(budget_ms=m["budget_ms"], verified=m["verified"], measured_ms=m["latency_ms"]["measured"],
               predicted_ms=m["latency_ms"]["predicted"], top1=m["accuracy"]["measured_top1"],
               predicted_top1=m["accuracy"]["predicted_top1"], test_images=m["accuracy"]["test_images"],
               files=sorted(p.name for p in out.iterdir()), stages_s=m["timings_s"],
               latency_predictor=m["latency_predictor"]["description"])
    print(f"{name}: exit {proc.returncode}, {wall:.1f} s, load {before} -> {run['load_after']}", flush=True)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "experiments/specialize/results/must_shows.json"))
    ap.add_argument("--ship-profile", action="store_true", help="copy the measured cpu profile into the package")
    ap.add_argument("--tolerance", type=float, default=0.03)
    args = ap.parse_args()
    results: dict = {"nproc": os.cpu_count(), "uptime_start": subprocess.run(["uptime"], capture_output=True,
                                                                             text=True).stdout.strip(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="nasedge-must-shows-") as tmp:
        work = Path(tmp)
        profiles = work / "profiles"
        common = [f"predictor.profiles_dir={profiles}"]
        runs = results["runs"]
        runs.append(specialize(work, "no-profile", ["--device", "cpu", "--latency", "20ms", *common]))
        runs.append(specialize(work, "stored-profile", ["--device", "cpu", "--latency", "20ms", *common]))
        profile_file = profiles / "cpu@ofa_mbv3_cifar.json"
        if profile_file.is_file():
            measured = [lat for _, lat in json.loads(profile_file.read_text())["measurements"]]
            budgets = np.percentile(measured, [25, 50, 75])
            results["measured_range_ms"] = [round(min(measured), 3), round(max(measured), 3)]
            for pct, b in zip((25, 50, 75), budgets):
                runs.append(specialize(work, f"budget-p{pct}", ["--device", "cpu", "--latency", f"{b:.3f}ms", *common]))
            if args.ship_profile:
                dest = ROOT / "latency_predictors" / "profiles" / profile_file.name
                shutil.copyfile(profile_file, dest)
                results["shipped_profile"] = str(dest.relative_to(ROOT))
        runs.append(specialize(work, "titan_rtx_64", ["--device", "titan_rtx_64", "--latency", "7ms"]))
    results["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    by = {r["name"]: r for r in results["runs"]}
    checks = {
        "no-profile <= 180 s": by["no-profile"].get("exit") == 0 and by["no-profile"]["wall_s"] <= 180,
        "stored-profile <= 60 s": by["stored-profile"].get("exit") == 0 and by["stored-profile"]["wall_s"] <= 60,
        "titan_rtx_64 unverified": by["titan_rtx_64"].get("exit") == 0 and by["titan_rtx_64"]["verified"] is False,
    }
    for r in results["runs"]:
        if r["name"].startswith("budget-"):
            checks[f"{r['name']} measured within budget (+{args.tolerance:.0%})"] = (
                r.get("exit") == 0 and r["measured_ms"] <= r["budget_ms"] * (1 + args.tolerance))
    results["checks"] = checks
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['uptime_start']}  ->  {results['uptime_end']}")
    print(f"{'run':<16} {'exit':>4} {'wall s':>7} {'budget':>8} {'measured':>9} {'predicted':>9} {'top-1':>6} "
          f"{'verified':>8}  load before")
    for r in results["runs"]:
        f = lambda k, fmt: format(r[k], fmt) if r.get(k) is not None else "-"  # noqa: E731
        print(f"{r['name']:<16} {r['exit']:>4} {r['wall_s']:>7.1f} {f('budget_ms', '8.3f')} {f('measured_ms', '9.3f')} "
              f"{f('predicted_ms', '9.3f')} {f('top1', '6.2f')} {str(r.get('verified', '-')):>8}  {r['load_before']}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
