"""Time of one request, sent one after another over a kept-alive connection, to `nasedge serve --port 0` with 1 and
2 workers, and to the same app on 2 uvicorn workers sharing a socket bound here and handed over as uvicorn's `--fd`
(the way `nasedge serve` could have shared its bound socket, and did not: see experiments/service/README.md,
"A port picked by the server").

    PYTHONPATH=. python experiments/service/request_time.py [--rounds 2] [--requests 50]    (~1 min)
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PATHS = ("/readyz", "/openapi.json", "/v1/devices")


def start(mode: str, home: str) -> tuple[subprocess.Popen, str, socket.socket | None]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NASEDGE_HOME": home}
    if mode.startswith("serve"):
        workers = mode.rsplit("-w", 1)[1]
        proc = subprocess.Popen([sys.executable, "-m", "nasedge.cli", "serve", "--port", "0", "--workers", workers],
                                cwd=REPO, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
        url = re.search(r"nasedge serve: (http://\S+)", proc.stderr.readline()).group(1)
        return proc, url, None
    from nasedge.service.app import SETTINGS_ENV
    from nasedge.service.settings import ServiceSettings

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    settings = ServiceSettings(db=f"sqlite:///{home}/fd.db")
    env = {**env, SETTINGS_ENV: settings.to_json(), "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=home)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--fd", str(sock.fileno()), "--workers", "2",
                             "--factory", "nasedge.service.app:create_app_from_env", "--log-level", "warning"],
                            cwd=REPO, env=env, pass_fds=[sock.fileno()], start_new_session=True)
    return proc, f"http://127.0.0.1:{sock.getsockname()[1]}", sock


def time_requests(url: str, n: int) -> dict[str, float]:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready")
        time.sleep(0.1)
    out = {}
    with httpx.Client() as client:
        for path in PATHS:
            client.get(url + path).raise_for_status()  # the first request of a path warms caches
            start = time.perf_counter()
            for _ in range(n):
                client.get(url + path).raise_for_status()
            out[path] = 1000 * (time.perf_counter() - start) / n
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    modes = ("serve-w1", "serve-w2", "uvicorn-fd-w2")
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(args.rounds):  # interleaved: the machine's load drifts
            for mode in modes:
                proc, url, sock = start(mode, home)
                try:
                    results[mode].append(time_requests(url, args.requests))
                finally:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)
                    if sock:
                        sock.close()
    print("ms per request (median over rounds): " + ", ".join(PATHS))
    for mode, rounds in results.items():
        print(f"{mode:14s} " + "  ".join(f"{statistics.median(r[p] for r in rounds):7.2f}" for p in PATHS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
