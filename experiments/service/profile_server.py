"""Where a prediction request's CPU time goes, and before/after ratios of changes, in one run.

  PYTHONPATH=. python experiments/service/profile_server.py --baseline c8d1895 \
      --out experiments/service/results/profile.json

1. Stages of a request of 100 archs, microseconds of CPU per arch: JSON decoding, the request model,
   parsing and validating the archs, the predictor, the response. With ``--baseline REV`` the same
   stages also run on the code of git revision REV (extracted to a temporary folder, run in a
   subprocess), interleaved with this tree's rounds, and the ratio is printed.
2. The app without the network: 50 concurrent single-arch ``POST /v1/predict`` calls straight into the
   ASGI app (no sockets, no uvicorn), CPU microseconds per request and the pauses of the full garbage
   collections meanwhile, for each ``--variant`` (settings overrides, e.g. ``batch_inline_archs=0`` or
   ``gc_freeze=false``), interleaved.

Every figure is the best of ``--rounds`` (the machine is shared: the best is the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPACE = "ofa_mbv3_w1.2"


def _profile():
    """A device profile fitted on 20 real measurements (as the benchmark registers)."""
    from benchmark import measurements

    from nasedge.predict.profile import fit_profile

    pairs = measurements()
    profile = fit_profile("gpu-a", SPACE, [a for a, _ in pairs], [ms for _, ms in pairs], cv_folds=5)
    profile.latency_predictor  # noqa: B018
    return profile


def stages(n_requests: int = 40, batch: int = 100) -> dict[str, float]:
    """CPU microseconds per arch of each stage of a predict request (run in the tree on sys.path)."""
    from nasedge.predict.encodings import get_encoding, list_encodings
    from nasedge.service import schemas
    from nasedge.service.errors import parse_archs
    from nasedge.spaces import get_space

    profile = _profile()
    enc = get_encoding(SPACE)
    models = schemas.build(1000, 1000, list_encodings())
    archs = get_space(SPACE).sample_many(n_requests * batch, 3)
    bodies = [json.dumps({"device": "gpu-a", "archs": [a.to_dict() for a in archs[i:i + batch]]}).encode()
              for i in range(0, len(archs), batch)]
    out: dict[str, float] = {}

    def stage(name, fn, inputs):
        start = time.process_time()
        result = [fn(x) for x in inputs]
        out[name] = round(1e6 * (time.process_time() - start) / (len(inputs) * batch), 2)
        return result

    decoded = stage("json_decode", json.loads, bodies)
    requests = stage("request_model", models.PredictRequest.model_validate, decoded)
    parsed = stage("parse_archs", lambda r: parse_archs(enc, r.archs, lambda i: f"archs[{i}]"), requests)
    latency = stage("predictor", profile.predict, parsed)
    stage("response", lambda ms: json.dumps(schemas.PredictResponse.model_validate(
        {"device": "gpu-a", "space": SPACE, "predictor": "meta", "version": 1, "latency_ms": ms.tolist()}
    ).model_dump()).encode(), latency)
    out["total"] = round(sum(out.values()), 2)
    return out


async def _app_cpu_per_request(overrides: dict, requests: int, clients: int) -> tuple[float, list[float]]:
    """CPU microseconds per single-arch predict request, calling the ASGI app directly, and the pauses (ms)
    of the full garbage collections during the timed requests."""
    import gc

    from nasedge.predict.profile import save_profile
    from nasedge.service.app import create_app
    from nasedge.service.settings import ServiceSettings
    from nasedge.spaces import get_space

    tmp = Path(tempfile.mkdtemp(prefix="nasedge-profile-"))
    (tmp / "shipped").mkdir()
    save_profile(_profile(), tmp / "shipped")  # a shipped profile: no registration needed
    settings = ServiceSettings(db=f"sqlite:///{tmp}/p.db", shipped_profiles_dir=str(tmp / "shipped"),
                               **overrides)
    app = create_app(settings)
    bodies = [json.dumps({"device": "gpu-a", "archs": [a.to_dict()]}).encode()
              for a in get_space(SPACE).sample_many(2000, 5)]

    async def call(body: bytes) -> int:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())]}
        sent = False
        status = 0

        async def receive():
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    issued = 0

    async def client():
        nonlocal issued
        while issued < requests:
            body = bodies[issued % len(bodies)]
            issued += 1
            assert await call(body) == 200

    async with app.router.lifespan_context(app):
        issued, target = 0, requests
        requests = 200  # warm-up
        await asyncio.gather(*(client() for _ in range(clients)))
        requests, issued = target, 0
        pauses, started = [], [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    started[0] = time.perf_counter()
                else:
                    pauses.append(round(1e3 * (time.perf_counter() - started[0]), 2))

        gc.callbacks.append(on_gc)
        start = time.process_time()
        try:
            await asyncio.gather(*(client() for _ in range(clients)))
        finally:
            gc.callbacks.remove(on_gc)
        cpu = 1e6 * (time.process_time() - start) / target
    gc.unfreeze()  # the next variant starts from the same state
    return cpu, pauses


def _stages_in(tree: Path) -> dict[str, float]:
    run = subprocess.run([sys.executable, str(tree / "experiments/service/profile_server.py"), "--stages-only"],
                         cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def _best(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: min(r[k] for r in rounds) for k in rounds[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", metavar="REV", help="git revision to compare the stages with")
    p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                   help="settings overrides of one app variant (repeatable; default: as configured)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=3000, help="single-arch requests per app round")
    p.add_argument("--out", help="result JSON")
    p.add_argument("--stages-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stages_only:
        print(json.dumps(stages()))
        return 0
    import logging

    from nasedge.atomic import atomic_write_text

    logging.getLogger("nasedge.service").setLevel(logging.ERROR)  # "no write tokens": reads only, as meant
    result: dict = {"loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    trees = {"this tree": REPO}
    if args.baseline:
        from benchmark import baseline_tree

        trees[f"baseline {args.baseline}"] = baseline_tree(args.baseline)
    rounds: dict[str, list] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rounds[name].append(_stages_in(tree))
    result["stages_us_per_arch"] = {name: _best(r) for name, r in rounds.items()}
    for name, best in result["stages_us_per_arch"].items():
        print(f"stages, us of CPU per arch (batch of 100), {name}: {best}")
    if args.baseline:
        now, base = result["stages_us_per_arch"].values()
        result["stages_speedup"] = {k: round(base[k] / now[k], 2) for k in now if now[k] > 0}
        print(f"speed-up over {args.baseline} (baseline / this tree): {result['stages_speedup']}")

    variants = {v: dict(_override(kv) for kv in v.split(",")) for v in args.variant} or {"as configured": {}}
    app_rounds: dict[str, list] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for name, overrides in variants.items():
            app_rounds[name].append(asyncio.run(_app_cpu_per_request(overrides, args.requests, 50)))
    result["app_us_per_single_request"] = {v: round(min(c for c, _ in r), 1) for v, r in app_rounds.items()}
    result["full_gc_pauses_ms"] = {v: [p for _, pauses in r for p in pauses] for v, r in app_rounds.items()}
    print(f"app without network, 50 concurrent single-arch requests, us of CPU per request: "
          f"{result['app_us_per_single_request']}")
    print(f"full garbage collections during those requests, pause in ms: {result['full_gc_pauses_ms']}")
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    return 0


def _override(kv: str) -> tuple[str, object]:
    key, _, value = kv.partition("=")
    return key, json.loads(value)


if __name__ == "__main__":
    sys.exit(main())
