"""A device registered through the HTTP API predicts what `nasedge predictor fit` predicts offline.

  PYTHONPATH=. python experiments/service/offline_vs_service.py \
      --out experiments/service/results/offline_vs_service.json

1. Writes 20 real measurements (HELP benchmark, RTX 2080 Ti at batch 64: the 10 reference archs of
   ofa_mbv3_w1.2 and 10 more) to a CSV, and fits them offline:
   `nasedge predictor fit --device gpu-a --measurements lat.csv --profiles-dir DIR`.
2. Starts `nasedge serve`, registers the same CSV rows with `POST /v1/devices` (plain HTTP).
3. Predicts 1,000 random archs of the space: in one request, in ten requests of 100, and as 1,000
   single-arch requests from 50 concurrent clients (which the server coalesces into shared predictor
   calls), and compares each with the offline profile's predictions.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import REPO, ArgumentParser, run  # noqa: E402  (after the sys.path entry)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="offline_vs_service.py", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="result JSON")
    args = p.parse_args(argv)
    if args.out is not None:  # before the work, not after it
        from nasedge.atomic import check_out_dir

        if Path(args.out).is_dir():
            from nasedge.errors import NasedgeError

            raise NasedgeError(f"--out {args.out}: is a folder; expected the result JSON file")
        check_out_dir("--out", str(Path(args.out).parent), given=args.out)

    import httpx

    from benchmark import measurements
    from nasedge.atomic import atomic_write_text
    from nasedge.predict.profile import load_profile
    from nasedge.service.auth import create_token
    from nasedge.spaces import get_space

    tmp = Path(tempfile.mkdtemp(prefix="nasedge-offline-"))
    pairs = measurements()
    with open(tmp / "lat.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "latency_ms"])
        w.writerows([a.to_json(), repr(ms)] for a, ms in pairs)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    fit = [sys.executable, "-m", "nasedge.cli", "predictor", "fit", "--device", "gpu-a", "--measurements",
           str(tmp / "lat.csv"), "--profiles-dir", str(tmp / "offline")]
    print("$", " ".join(fit[1:]), flush=True)
    out = subprocess.run(fit, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    print(out.stdout.strip())
    offline = load_profile("gpu-a", tmp / "offline")

    token, stored = create_token()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = [sys.executable, "-m", "nasedge.cli", "serve", "--port", str(port), "--db",
             f"sqlite:///{tmp}/svc.db", f"service.write_token_hashes=[{stored}]"]
    server = subprocess.Popen(serve, cwd=REPO, env=env, stdout=open(tmp / "serve.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with open(tmp / "lat.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        body = {"name": "gpu-a", "space": "ofa_mbv3_w1.2", "measurements": [
            {"arch": json.loads(r["arch"]), "latency_ms": float(r["latency_ms"])} for r in rows]}
        r = httpx.post(f"{url}/v1/devices", json=body, headers={"Authorization": f"Bearer {token}"},
                       timeout=120)
        r.raise_for_status()
        registered = r.json()
        print(f"POST /v1/devices -> {r.status_code}: quality {registered['quality']}")
        print(f"offline profile quality:           {offline.quality}")

        archs = get_space("ofa_mbv3_w1.2").sample_many(1000, 7)
        records = [a.to_dict() for a in archs]
        want = offline.predict(archs)

        def predict(chunk):
            r = httpx.post(f"{url}/v1/predict", json={"device": "gpu-a", "archs": chunk}, timeout=120)
            r.raise_for_status()
            return r.json()["latency_ms"]

        one = np.array(predict(records))
        tens = np.concatenate([predict(records[i:i + 100]) for i in range(0, 1000, 100)])
        tens_local = np.concatenate([offline.predict(archs[i:i + 100]) for i in range(0, 1000, 100)])
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            singles = np.array([v[0] for v in pool.map(lambda rec: predict([rec]), records)])
        singles_local = np.concatenate([offline.predict([a]) for a in archs])

        def compare(got, ref):
            ulp = np.abs(got - ref) / np.spacing(ref)
            return {"identical": int(np.sum(got == ref)), "of": len(ref), "max_rel_diff": float(np.max(
                np.abs(got - ref) / ref)), "max_ulp": float(ulp.max())}

        result = {
            "quality_equal": registered["quality"] == offline.quality,
            "one_request_of_1000_vs_offline_1000": compare(one, want),
            "ten_requests_of_100_vs_offline_ten_calls_of_100": compare(tens, tens_local),
            "ten_requests_of_100_vs_offline_1000": compare(tens, want),
            "1000_single_requests_50_clients_vs_offline_single_calls": compare(singles, singles_local),
        }
        for k, v in result.items():
            print(f"{k}: {v}")
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(60)
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    run(main)
