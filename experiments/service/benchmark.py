"""Throughput and latency of `nasedge serve` on this machine, load from a second process on loopback.

  PYTHONPATH=. python experiments/service/benchmark.py --baseline c8d1895 --out experiments/service/results/uvicorn_w1.json
  PYTHONPATH=. python experiments/service/benchmark.py --ray --out experiments/service/results/ray.json

Starts the real server (`nasedge serve`, SQLite in a temporary folder), registers a device from 20
real measurements (HELP benchmark, RTX 2080 Ti, batch 64), then runs experiments/service/loadgen.py
as a separate process for each scenario: batches of 100 archs (4 clients) and single archs
(50 clients). Every scenario is bounded in requests and seconds. The load average is read before
and after each scenario, since the machine is shared. With ``--baseline REV`` the same runs first
against the code of git revision REV (before/after ratios in one run). Writes one JSON file
(atomically) and prints the figures and whether the goals are met.
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


def baseline_tree(rev: str) -> Path:
    """The code of git revision ``rev`` in a temporary folder, with this tree's benchmark scripts."""
    import io
    import tarfile

    tmp = Path(tempfile.mkdtemp(prefix="nasedge-baseline-"))
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    for name in ("benchmark.py", "loadgen.py", "profile_server.py"):
        (tmp / "experiments" / "service").mkdir(parents=True, exist_ok=True)
        (tmp / "experiments" / "service" / name).write_text((REPO / "experiments/service" / name).read_text())
    return tmp


def measurements():
    """20 real measurements: the RTX 2080 Ti (batch 64) of the HELP sample, 10 reference archs + 10 more."""
    import numpy as np

    from nasedge.predict.dataset import load_dataset
    from nasedge.resources import shipped_path

    ds = load_dataset(shipped_path("latency_predictors") / "data" / "help_ofa_sample")
    others = [i for i in np.flatnonzero(ds.arch_ids < 40) if i not in set(ds.reference)]
    rows = list(ds.reference) + others[:10]
    return [(ds.items[i], float(ds.column("2080ti_64")[i])) for i in rows]


def run_benchmark(tree: Path, label: str, args: argparse.Namespace) -> dict:
    """Serve with the code in ``tree``, load it from loadgen processes, return the figures."""
    from nasedge.client import PredictorClient
    from nasedge.service.auth import create_token

    token, stored = create_token()
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="nasedge-bench-")
    cmd = [sys.executable, "-m", "nasedge.cli", "serve", "--port", str(port), "--db", f"sqlite:///{tmp}/p.db"]
    cmd += ["--ray"] if args.ray else ["--workers", str(args.workers)]
    cmd += [f"service.write_token_hashes=[{stored}]", *args.overrides]
    if args.ray:
        cmd.append(f"service.ray.num_replicas={args.replicas}")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    server = subprocess.Popen(cmd, cwd=tree, env=env, stdout=open(f"{tmp}/serve.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    results = {"code": label, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "overrides": args.overrides,
               "server": "ray" if args.ray else "uvicorn", "workers": args.workers,
               "replicas": args.replicas if args.ray else None, "cpus": os.cpu_count(), "scenarios": {}}
    try:
        client = PredictorClient(url, token=token)
        deadline = time.monotonic() + 180
        while not client.ready():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not start: {Path(tmp, 'serve.log').read_text()[-2000:]}")
            time.sleep(0.3)
        client.register("gpu-a", "ofa_mbv3_w1.2", measurements())
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
        goals = {"batched": ("archs_per_s", ">=", 5000.0), "single": ("p99_ms", "<=", 50.0)}
        for name, (key, op, goal) in goals.items():
            if name in results["scenarios"]:
                value = results["scenarios"][name][key]
                met = value >= goal if op == ">=" else value <= goal
                results["scenarios"][name]["goal"] = f"{key} {op} {goal}: {'met' if met else 'NOT met'}"
                print(f"goal {name}: {key} {value} {op} {goal}: {'met' if met else 'NOT met'}")
        results["metrics_excerpt"] = [ln for ln in client._http.get("/metrics").text.splitlines()
                                      if ln.startswith("nasedge_predict_batch_requests_sum")
                                      or ln.startswith("nasedge_predict_batch_requests_count")]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--ray", action="store_true", help="serve on Ray Serve instead")
    p.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--seconds", type=float, default=None, help="override every scenario's time bound")
    p.add_argument("--baseline", metavar="REV", help="first run the same with the code of git revision REV")
    p.add_argument("--out", help="result JSON")
    p.add_argument("overrides", nargs="*", help="more `nasedge serve` overrides")
    args = p.parse_args(argv)

    from nasedge.atomic import atomic_write_text

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    baseline = None
    if args.baseline:  # first, so that this tree's run is not the one favoured by a warmer machine
        print(f"--- baseline {args.baseline}", flush=True)
        baseline = run_benchmark(baseline_tree(args.baseline), args.baseline, args)
        print(f"--- this tree ({commit})", flush=True)
    results = run_benchmark(REPO, commit, args)
    if baseline is not None:
        results["baseline"] = baseline
        results["ratios"] = {name: {
            "archs_per_s": round(sc["archs_per_s"] / baseline["scenarios"][name]["archs_per_s"], 2),
            "p99_ms": round(sc["p99_ms"] / baseline["scenarios"][name]["p99_ms"], 2)}
            for name, sc in results["scenarios"].items()}
        print(f"this tree / baseline {args.baseline}: {results['ratios']}")
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
