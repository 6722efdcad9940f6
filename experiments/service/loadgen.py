"""Load generator for the predictor service: closed-loop clients on loopback, bounded in count and time.

  python experiments/service/loadgen.py --url http://127.0.0.1:8000 --device gpu-a --batch 100 \
      --clients 4 --requests 400 --seconds 30
  python experiments/service/loadgen.py --url ... --batch 1 --clients 50 --requests 20000 --seconds 30

Each of ``--clients`` connections sends one request, waits for the answer, sends the next (keep-alive),
until ``--requests`` in all have been answered or ``--seconds`` have passed. Request bodies are built
beforehand from distinct random archs of the device's space, so the generator spends its CPU on HTTP,
not on JSON. Prints one JSON object: requests and archs per second, latency percentiles (ms), errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import numpy as np


def build_bodies(device: str, space: str, batch: int, count: int, seed: int) -> list[bytes]:
    from nasedge.spaces import get_space

    archs = get_space(space).sample_many(min(count * batch, 20_000), seed)
    records = [a.to_dict() for a in archs]
    def request(i: int) -> bytes:
        archs = [records[(i * batch + j) % len(records)] for j in range(batch)]
        return json.dumps({"device": device, "archs": archs}, separators=(",", ":")).encode()

    return [request(i) for i in range(count)]


async def run(url: str, bodies: list[bytes], clients: int, requests: int, seconds: float,
              warmup: int) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = 0.0

    async def client(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal issued
        while issued < requests and time.perf_counter() < deadline:
            body = bodies[issued % len(bodies)]
            issued += 1
            t = time.perf_counter()
            try:
                async with session.post(f"{url}/v1/predict", data=body,
                                        headers={"content-type": "application/json"}) as r:
                    await r.read()
                    if r.status != 200:
                        errors[str(r.status)] = errors.get(str(r.status), 0) + 1
                        continue
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - t)

    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        # warm-up: open the connections, load the device's predictor in every worker
        deadline = time.perf_counter() + 30
        saved, issued = requests, 0
        requests = warmup
        await asyncio.gather(*(client(session, k) for k in range(clients)))
        latencies.clear()
        errors.clear()
        requests, issued = saved, 0
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(client(session, k) for k in range(clients)))
        wall = time.perf_counter() - start
    ms = 1e3 * np.array(latencies)
    return {"requests": len(latencies), "wall_s": round(wall, 3),
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p90_ms": round(float(np.percentile(ms, 90)), 2) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "max_ms": round(float(ms.max()), 2) if len(ms) else None, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--space", default="ofa_mbv3_w1.2")
    p.add_argument("--batch", type=int, default=100, help="archs per request")
    p.add_argument("--clients", type=int, default=4, help="concurrent connections")
    p.add_argument("--requests", type=int, default=1000, help="at most this many requests")
    p.add_argument("--seconds", type=float, default=30.0, help="at most this long")
    p.add_argument("--warmup", type=int, default=200, help="requests before measuring")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.url.startswith(("http://127.", "http://localhost")):
        sys.exit("loadgen: loopback URLs only")
    bodies = build_bodies(args.device, args.space, args.batch, min(args.requests, 2000), args.seed)
    cpu0 = os.times()
    result = asyncio.run(run(args.url.rstrip("/"), bodies, args.clients, args.requests, args.seconds,
                             args.warmup))
    cpu1 = os.times()
    result.update(batch=args.batch, clients=args.clients,
                  archs_per_s=round(result["requests_per_s"] * args.batch, 1),
                  loadgen_cpu_s=round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
