"""Specialize the supernet for a device under a latency budget: search, verify on the device, export.

  nasedge specialize --device cpu --latency 1.3ms
  nasedge specialize --device cpu --latency 0.9ms,1.3ms,1.8ms                     (one pick per budget)
  nasedge specialize --device jetson-orin --latency 20ms --ray-address HEAD:6379
  nasedge specialize --device jetson-orin --latency 20ms --measurements orin.csv     (from `nasedge measure`)
  nasedge specialize --device titan_rtx_64 --latency 7ms                           (predict-only: unverified)
  nasedge specialize --device my-board --latency 2ms --predictor-url URL    (a device registered there: unverified
                                                                           unless `nasedge devices add` made it here)
  nasedge specialize --device cpu --latency 2.5ms --strategy optuna search.sampler=nsga2 specialize.top_k=5
  nasedge specialize --device cpu --latency 20ms --supernet runs/flowers/supernet.pt --data /data/flowers
                                                   (the pick evaluated on the folder's val/ split)

Writes subnet.pt, subnet.onnx (checked against onnxruntime), subnet.tflite (with the tflite extra),
manifest.json, pareto.png, report.md and search.json into --out (default outputs/specialize/<device>-<budget>).
Latency accepts 20ms, 20 ms, 0.02s or 20 (milliseconds); several budgets separated by commas
(--latency 0.9ms,1.3ms,1.8ms) give one pick per budget in --out/<budget>/ and a combined manifest.json, report.md
and pareto.png in --out.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", required=True, metavar="NAME", help="device name (nasedge devices) or a device YAML")
    parser.add_argument("--latency", required=True, metavar="BUDGET",
                        help="latency budget(s): 20ms, 20 ms, 0.02s, 20; several: 0.9ms,1.3ms,1.8ms")
    parser.add_argument("--strategy", metavar="NAME", help="search strategy: evolution (default), optuna, random, or one a plugin registers")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default outputs/specialize/<device>-<budget>[-<budget>...])")
    parser.add_argument("--supernet", metavar="PATH", help="supernet checkpoint (default: the embedded one)")
    parser.add_argument("--measurements", metavar="FILE.csv",
                        help="latency measurements taken on the device (nasedge measure) to fit its profile from")
    parser.add_argument("--ray-address", metavar="HOST:PORT", help="join this Ray cluster (devices on other nodes)")
    parser.add_argument("--predictor-url", metavar="URL", help="use a remote predictor service for latency")
    parser.add_argument("--data", metavar="DATA", help="evaluation data of the supernet's classes: a folder with "
                        "train/ and val/ (or test/), a packed .npz or a conf/data name (default: the configured data)")
    parser.add_argument("--accuracy-predictor", metavar="FILE.json",
                        help="accuracy predictor (default: accuracy_predictor.json beside --supernet)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="configuration overrides (search.*, specialize.*, predictor.*, data.*, seed=...)")


def run(args: argparse.Namespace) -> int:
    from nasedge.commands.inputs import predictor_choices
    from nasedge.config import data_overrides
    from nasedge.specialize import SpecializeRequest, specialize

    cfg, device = _device_and_config(args, [*([f"search={args.strategy}"] if args.strategy else []),
                                            *(data_overrides(args.data) if args.data else []),
                                            *args.overrides])
    data_given = bool(args.data) or any(o.lstrip("+~").startswith(("data=", "data.")) for o in args.overrides)
    chosen = predictor_choices(args.overrides)
    specialize(SpecializeRequest(latency=args.latency, out=args.out, supernet=args.supernet,
                                 measurements=args.measurements, ray_address=args.ray_address,
                                 predictor_url=args.predictor_url, data_given=data_given,
                                 predictor_given=chosen[-1] if chosen else None,
                                 accuracy_predictor=args.accuracy_predictor), device, cfg)
    return 0


def _device_and_config(args: argparse.Namespace, overrides: list[str]):
    """The composed configuration and the device: a named one (nasedge's or the user's) or a YAML, else, with
    ``--predictor-url``, a device only that service knows (predicted, never verified here)."""
    from nasedge.commands.inputs import check_measurements_use
    from nasedge.config import compose, compose_with_device
    from nasedge.measure.device import Device, device_source, is_device_file, split_device_overrides

    check_measurements_use(args.measurements, args.predictor_url)
    if args.predictor_url and not is_device_file(args.device) and device_source(args.device) is None:
        return compose(overrides), Device.known_to_service(args.device, args.predictor_url)
    cfg, device = compose_with_device(args.device, overrides)
    check_measurements_use(args.measurements, None, device)
    if device.where == "local" and device.measurable and split_device_overrides(overrides)[0]:
        device.measurer()  # the overridden settings are checked by the measurer they make: now, not after the loads
    return cfg, device
