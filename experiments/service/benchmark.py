"""Throughput and latency of `nasedge serve` on this machine, load from a second process on loopback.

  PYTHONPATH=. python experiments/service/benchmark.py --workers 1 --out experiments/service/results/w1.json
  PYTHONPATH=. python experiments/service/benchmark.py --ray --out experiments/service/results/ray.json

Starts the real server (`nasedge serve`, SQLite in a temporary folder), registers a device from 20
real measurements (HELP benchmark, RTX 2080 Ti, batch 64), then runs experiments/service/loadgen.py
as a separate process for each scenario: batches of 100 archs (4 clients) and single archs
(50 clients). Every scenario is bounded in requests and seconds. The load average is read before
and after each scenario, since the machine is shared. Writes one JSON file (atomically) and prints
a table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "batched": dict(batch=100, clients=4, requests=3000, seconds=20, warmup=40),
    "single": dict(batch=1, clients=50, requests=60000, seconds=20, warmup=500),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_cpu_seconds(sid: int) -> float:
    """User + system CPU time of the live processes of session ``sid`` (the server and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields[0] is the state: session is the 6th field of stat
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _measurements():
    import numpy as np

    from nasedge.predict.dataset import load_dataset
    from nasedge.resources import shipped_path

    ds = load_dataset(shipped_path("latency_predictors") / "data" / "help_ofa_sample")
    others = [i for i in np.flatnonzero(ds.arch_ids < 40) if i not in set(ds.reference)]
    rows = list(ds.reference) + others[:10]
    return [(ds.items[i], float(ds.column("2080ti_64")[i])) for i in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--ray", action="store_true", help="serve on Ray Serve instead")
    p.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--seconds", type=float, default=None, help="override every scenario's time bound")
    p.add_argument("--out", help="result JSON")
    p.add_argument("overrides", nargs="*", help="more `nasedge serve` overrides")
    args = p.parse_args(argv)

    from nasedge.atomic import atomic_write_text
    from nasedge.client import PredictorClient
    from nasedge.service.auth import create_token

    token, stored = create_token()
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="nasedge-bench-")
    cmd = [sys.executable, "-m", "nasedge.cli", "serve", "--port", str(port), "--db", f"sqlite:///{tmp}/p.db",
           f"service.write_token_hashes=[{stored}]", *args.overrides]
    if args.ray:
        cmd += ["--ray", f"service.ray.num_replicas={args.replicas}"]
    else:
        cmd += ["--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(f"{tmp}/serve.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    results = {"server": "ray" if args.ray else "uvicorn", "workers": args.workers,
               "replicas": args.replicas if args.ray else None, "cpus": os.cpu_count(), "scenarios": {}}
    try:
        client = PredictorClient(url, token=token)
        deadline = time.monotonic() + 180
        while not client.ready():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not start: {Path(tmp, 'serve.log').read_text()[-2000:]}")
            time.sleep(0.3)
        client.register("gpu-a", "ofa_mbv3_w1.2", _measurements())
        for name in args.scenarios.split(","):
            sc = dict(SCENARIOS[name])
            if args.seconds:
                sc["seconds"] = args.seconds
            load_before = os.getloadavg()
            cpu_before = session_cpu_seconds(server.pid)
            out = subprocess.run([sys.executable, str(REPO / "experiments/service/loadgen.py"), "--url", url,
                                  "--device", "gpu-a", *(f"--{k}={v}" for k, v in sc.items())],
                                 cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                sys.exit(f"loadgen failed: {out.stderr[-2000:]}")
            r = json.loads(out.stdout)
            # the server's CPU over the whole loadgen run (its warm-up included): CPU per answered request
            r["server_cpu_s"] = round(session_cpu_seconds(server.pid) - cpu_before, 2)
            answered = r["requests"] + sc["warmup"]
            r["server_cpu_ms_per_arch"] = round(1e3 * r["server_cpu_s"] / (answered * sc["batch"]), 4)
            r["archs_per_server_cpu_s"] = round(1e3 / r["server_cpu_ms_per_arch"], 1)
            r["loadavg_before"], r["loadavg_after"] = [round(x, 2) for x in load_before], \
                [round(x, 2) for x in os.getloadavg()]
            results["scenarios"][name] = r
            print(f"{name:8s} batch {r['batch']:4d} x {r['clients']:3d} clients: {r['archs_per_s']:9.1f} "
                  f"archs/s, {r['requests_per_s']:8.1f} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                  f"errors {r['errors']}, load {r['loadavg_before'][0]} -> {r['loadavg_after'][0]}; server "
                  f"CPU {r['server_cpu_ms_per_arch']} ms/arch ({r['archs_per_server_cpu_s']} archs per "
                  f"CPU-second)", flush=True)
        results["metrics_excerpt"] = [ln for ln in client._http.get("/metrics").text.splitlines()
                                      if ln.startswith("nasedge_predict_batch_requests_sum")
                                      or ln.startswith("nasedge_predict_batch_requests_count")]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
