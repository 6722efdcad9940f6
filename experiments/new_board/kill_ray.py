"""Kill -9 of a driver whose device is measured on a Ray node: a group's rounds come back as they are timed.

  cd <repo> && python experiments/new_board/kill_ray.py --work /tmp/kill_ray \
      --out experiments/new_board/kill_ray.jsonl --trials 10

Starts a local two-node Ray cluster (the second node offers ``device:kr-dev``), then per trial: a driver
process measures 4 ``ofa_mbv3_cifar`` archs as one interleaved group on ``kr-dev`` (onnxruntime, one
thread, 8 rounds of about 1.2 s for the group) into a fresh CSV; once the round journal beside the CSV
holds a random number of rounds (1-6), and a random part of a round later (0-1.2 s; both seeded per trial),
the driver is killed with SIGKILL. Checked:

- the task on the device's node (the process titled ``ray::nasedge-measure:kr-dev``, seen before the
  kill) ends with its driver; the seconds until it is gone are recorded;
- a rerun resumes exactly the rounds the journal kept (its note) and times only the rest: every arch
  ends with 8 rounds and one row, and no journal is left;

Resumable: trials already in ``--out`` (JSON lines, appended and fsynced) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROUNDS, GROUP = 8, 4
DRIVER = r"""
import sys
from nasedge.measure import Device, measure_to_csv
from nasedge.spaces import get_space
config = {"name": "kr-dev", "where": "ray", "resource": "device:kr-dev",
          "measure": {"_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "onnxruntime", "threads": 1,
                      "protocol": {"round_s": 0.3, "min_rounds": %d, "max_rounds": %d, "group_size": %d,
                                   "max_seconds": 100}}}
rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_cifar").sample_many(%d, 0, unique=True))]
got = measure_to_csv(Device.from_config(config), rows, sys.argv[1], ray_address=sys.argv[2], warn=print)
print("DONE", [m.stats.rounds for m in got], flush=True)
""" % (ROUNDS, ROUNDS, GROUP, GROUP)


def _task_processes() -> int:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.startswith("ray::nasedge-measure:kr-dev"))


def _kept(journal: Path) -> int:
    return journal.read_text().count('"key"') if journal.is_file() else 0


def trial(k: int, address: str, work: Path) -> dict:
    d = work / f"trial{k}"
    d.mkdir(parents=True, exist_ok=True)
    csv, journal = d / "lat.csv", d / "lat.csv.kr-dev.rounds.jsonl"
    for p in (csv, journal):
        p.unlink(missing_ok=True)
    target = random.Random(-k - 1).randint(1, ROUNDS - 2) * GROUP
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(csv), address], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while _kept(journal) < target and proc.poll() is None and time.monotonic() - t0 < 300:
        time.sleep(0.02)
    delay = random.Random(k).uniform(0, 1.2)
    time.sleep(delay)  # the kill falls anywhere in the next round
    seen = _task_processes() > 0
    proc.kill()
    proc.wait()
    kept = _kept(journal)
    t_kill = time.monotonic()
    while _task_processes() and time.monotonic() - t_kill < 60:
        time.sleep(0.2)
    task_gone_s = round(time.monotonic() - t_kill, 1) if not _task_processes() else None
    rerun = subprocess.run([sys.executable, "-c", DRIVER, str(csv), address], env=env, capture_output=True,
                           text=True, timeout=600)
    resumed = re.search(r"resuming (\d+) rounds", rerun.stdout)
    done = re.search(r"DONE \[(.*)\]", rerun.stdout)
    rounds = [int(x) for x in done.group(1).split(",")] if done else []
    rows = csv.read_text().splitlines()[1:] if csv.is_file() else []
    ok = (rerun.returncode == 0 and rounds == [ROUNDS] * GROUP and len(rows) == GROUP
          and not journal.exists() and (int(resumed.group(1)) if resumed else 0) == kept
          and seen and task_gone_s is not None and not csv.with_name(csv.name + ".tmp").exists())
    return {"trial": k, "journal_rounds_before_delay": target // GROUP, "delay_s": round(delay, 2),
            "rounds_kept": kept,
            "rounds_resumed": int(resumed.group(1)) if resumed else 0, "task_seen": seen, "task_gone_s": task_gone_s,
            "final_rounds": rounds, "rows": len(rows), "journal_left": journal.exists(),
            "rerun_exit": rerun.returncode, "ok": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    done = {json.loads(line)["trial"] for line in args.out.read_text().splitlines() if line.strip()} \
        if args.out.is_file() else set()
    todo = [k for k in range(args.trials) if k not in done]
    if not todo:
        print(f"{args.out}: all {args.trials} trials stored")
        return 0
    from ray.cluster_utils import Cluster

    small = {"object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False, **small})
    cluster.add_node(num_cpus=1, resources={"device:kr-dev": 1}, **small)
    cluster.wait_for_nodes()
    try:
        for k in todo:
            r = trial(k, cluster.address, args.work)
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
                f.flush()
                os.fsync(f.fileno())
            print(f"trial {k}: {'ok' if r['ok'] else 'FAILED'} (killed {r['delay_s']} s after the journal held "
                  f"{r['journal_rounds_before_delay']} rounds: "
                  f"{r['rounds_kept']} kept, {r['rounds_resumed']} resumed, task gone in {r['task_gone_s']} s, "
                  f"rounds {r['final_rounds']})", flush=True)
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
