"""Latency dataset on the H200: the 1,010 OFA-MobileNetV3 w1.2 archs of latency_predictors/data/ofa_mbv3_w1.2
(HELP's ofa arch ids 0..999 plus its 10 reference archs) on the h200-* device configs in conf/device/.

Standalone: needs torch, numpy and pyyaml only (no hydra, ray or network); run it from the repository
root on the GPU machine:

  python experiments/latency_datasets/measure_gpu.py                 # writes $OUT/ofa_mbv3_w1.2/measurements/
  python experiments/latency_datasets/measure_gpu.py --test-on-cpu --limit 4 --out /tmp/gpu-test
  python experiments/latency_datasets/measure_gpu.py --fresh --shuffle 1 --out DIR   # one independent repeat

It stops starting new groups after --time-limit seconds (default 500) so that one command stays under
10 minutes; run it again to continue: measurements already in --out or in the repository's dataset
(latency_predictors/data/ofa_mbv3_w1.2/measurements/) are kept. Copy the files of
$OUT/ofa_mbv3_w1.2/measurements/ into that folder and run `campaign.py --assemble` to merge them.

``--fresh`` ignores the repository's measurements (resuming only from --out) and ``--shuffle SEED``
measures the archs in a random order: several such processes (plans/repeats.sh, one per GPU) give
repeats that compare_repeats.py compares and anchored_merge.py (with anchor archs, --ids) merges.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from nasedge.measure import Device, load_device
from nasedge.measure.dataset import measure_dataset, reference_first_order

ROOT = Path(__file__).resolve().parents[2]

SPACE = "ofa_mbv3_w1.2"
DEVICES = ("h200-torch-fp32-b1", "h200-torch-fp16-b1", "h200-torch-fp16-b64")


def with_measure(device: Device, /, source: str | None = None, description: str | None = None,
                 **settings: Any) -> Device:
    """The device with some of its ``measure`` settings (and its description, source) replaced."""
    data = {**vars(device.config), "data": [], "name": device.name, "measure": {**device.config.measure, **settings}}
    if description is not None:
        data["description"] = description
    return Device.from_config(data, source or device.source)


def on_cpu(device: Device, batch_cap: int = 2) -> Device:
    """The same device measured with torch on the CPU (fp32, small batch): to test this script without a GPU."""
    return with_measure(device, f"{device.source} (test on cpu)",
                        device.description + " [TEST RUN ON THE CPU, not a GPU measurement]", device="cpu",
                        precision="fp32", cuda_graph=False, batch=min(device.config.measure.get("batch", 1), batch_cap))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "outputs/gpu")) / SPACE,
                   help="dataset folder to write (default $OUT/ofa_mbv3_w1.2)")
    p.add_argument("--devices", default=",".join(DEVICES), help="h200-* device configs to measure")
    p.add_argument("--limit", type=int, help="only the first N archs (reference archs first)")
    p.add_argument("--time-limit", type=float, default=500.0, help="start no new group after this many seconds")
    p.add_argument("--test-on-cpu", action="store_true", help="measure with torch on the CPU (testing only)")
    p.add_argument("--fresh", action="store_true", help="ignore the repository's measurements (a repeat)")
    p.add_argument("--shuffle", type=int, metavar="SEED", help="measure the archs in a random order")
    p.add_argument("--ids", type=Path, help="file of arch ids (one per line): measure only these")
    p.add_argument("--gpu-warmup-s", type=float, help="override the devices' measure.gpu_warmup_s")
    args = p.parse_args()
    t0 = time.perf_counter()
    data = ROOT / "latency_predictors" / "data" / SPACE
    devices = [load_device(ROOT / "conf" / "device" / f"{name}.yaml") for name in args.devices.split(",")]
    if args.gpu_warmup_s is not None:
        devices = [with_measure(d, gpu_warmup_s=args.gpu_warmup_s) for d in devices]
    if args.test_on_cpu:
        devices = [on_cpu(d) for d in devices]
    order = reference_first_order(data)
    if args.ids is not None:
        wanted = set(args.ids.read_text().split())
        unknown = wanted - set(order)
        if unknown:
            p.error(f"{args.ids}: arch id {sorted(unknown)[0]} is not in {data / 'archs.jsonl'}")
        order = [i for i in order if i in wanted]
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(order)
    args.out.mkdir(parents=True, exist_ok=True)
    for f in ("archs.jsonl", "reference_archs.json"):
        (args.out / f).write_bytes((data / f).read_bytes())
    total = len(order[:args.limit] if args.limit else order)
    print(f"{len(devices)} devices x {total} archs -> {args.out}", flush=True)

    def on_group(progress, remaining):
        done = total - remaining
        rates = ", ".join(f"{n} {pr.seconds_per_arch * 1e3:.0f} ms/arch" for n, pr in progress.items())
        print(f"[{time.perf_counter() - t0:6.0f} s] {done}/{total} archs; {rates}", flush=True)

    progress = measure_dataset(args.out if args.fresh else data, devices, out=args.out, order=order, limit=args.limit,
                               time_limit=args.time_limit - (time.perf_counter() - t0),
                               meta={"command": " ".join(sys.argv), "test_on_cpu": args.test_on_cpu,
                                     "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")},
                               on_group=on_group)
    left = {n: total - pr.done_before - pr.measured for n, pr in progress.items()}
    for name, pr in progress.items():
        print(f"{name}: measured {pr.measured} now, {pr.done_before} before, {left[name]} left; "
              f"{pr.noisy} noisy; {pr.seconds_per_arch * 1e3:.0f} ms/arch")
    print(f"total {time.perf_counter() - t0:.0f} s; " + ("complete" if not any(left.values()) else
                                                         "run again to continue"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
