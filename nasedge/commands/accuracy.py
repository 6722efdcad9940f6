"""Accuracy predictors fitted on your data: sample subnets' true accuracy, then fit a predictor to it.

  nasedge accuracy sample --supernet runs/flowers/supernet.pt --data /data/flowers -n 2000 --out samples.jsonl
  nasedge accuracy sample ... --ray-address HEAD:6379     one Ray worker per GPU of the cluster (or --workers N)
  nasedge accuracy fit samples.jsonl --out runs/flowers/accuracy_predictor.json

``sample`` evaluates ``-n`` random subnets of the supernet's space (at its resolutions; seeded by seed=K)
after BatchNorm recalibration, on the GPU when there is one, and appends one JSON line per subnet as it
finishes: a rerun resumes where the last one stopped. ``fit`` prints the held-out RMSE and Spearman rho of
the predictor (per split), then writes the predictor fitted on every sample. ``nasedge specialize`` uses it
as ``accuracy_predictor.json`` beside the supernet, or given with ``--accuracy-predictor``.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="accuracy_action", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    s = sub.add_parser("sample", help="evaluate random subnets (BN recalibrated) into a JSON-lines file")
    s.add_argument("--supernet", metavar="PATH", help="supernet checkpoint (default: the configured one)")
    s.add_argument("--data", metavar="DATA", help="a conf/data name, an ImageFolder directory or a packed .npz "
                                                  "(default: the configured data)")
    s.add_argument("-n", type=int, required=True, metavar="N", help="number of random subnets")
    s.add_argument("--out", required=True, metavar="FILE.jsonl", help="append here; archs already in it are skipped")
    s.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    s.add_argument("--workers", type=int, default=None,
                   help="Ray workers (default: one per GPU of the cluster when there is one, --ray-address or "
                        "RAY_ADDRESS, or when this machine has several GPUs; else in this process)")
    s.add_argument("--ray-address", metavar="HOST:PORT", help="evaluate on this Ray cluster's workers")
    s.add_argument("--batch-size", type=int, default=500, help="test images per forward (default 500)")
    s.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA (faster, slightly different)")
    s.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides (data.*, seed=...)")
    s.set_defaults(_run=run_sample)
    f = sub.add_parser("fit", help="fit an accuracy predictor to sampled accuracies; print held-out quality")
    f.add_argument("samples", metavar="SAMPLES.jsonl", help="from `nasedge accuracy sample` or `nasedge eval --out`")
    f.add_argument("--out", required=True, metavar="FILE.json", help="accuracy predictor to write")
    f.add_argument("--splits", type=int, default=3, help="random held-out splits to report (default 3)")
    f.add_argument("--held-out", type=float, default=0.2, help="share of samples held out per split (default 0.2)")
    f.add_argument("--json", action="store_true", help="print the report as one JSON object")
    f.set_defaults(_run=run_fit)


def run(args: argparse.Namespace) -> int:  # dispatched through the sub-command's own _run
    return args._run(args)


def run_sample(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from nasedge.config import compose, data_overrides
    from nasedge.errors import NasedgeError
    from nasedge.predict.accuracy_samples import sample_accuracies
    from nasedge.progress import progress_reporter
    from nasedge.supernet import load_supernet

    if args.n <= 0:
        raise NasedgeError(f"-n: value {args.n} is not valid; expected N > 0")
    if args.workers is not None and args.workers < 0:
        raise NasedgeError(f"--workers: value {args.workers} is not valid; expected N >= 0")
    cfg = compose([*(data_overrides(args.data) if args.data else []), *args.overrides])
    data = OmegaConf.to_object(cfg.data)
    data.check()  # before --out is read: a bad value, not "a result of another data" there
    path = args.supernet or cfg.supernet.checkpoint
    if not path:
        raise NasedgeError("no supernet configured; pass --supernet PATH")
    space = load_supernet(path).space
    archs = space.sample_many(args.n, int(cfg.seed))

    def show(record: dict) -> None:
        print(f"{record['digest']} r{record['arch']['resolution']} {record['macs'] / 1e6:7.2f} M MACs  "
              f"top-1 {record['top1']:.2f} %  ({record['seconds']:.1f} s, {record['where']})", flush=True)

    def resuming(todo: int, done: int) -> None:
        print(f"{args.out}: resuming: {done} of the {len(archs)} subnets are there, {todo} to evaluate", flush=True)

    # per batch of the arch in flight (stderr): one arch takes minutes on a CPU, and -n 1 printed nothing till its end
    with progress_reporter("sample", unit="archs") as update:
        new, skipped = sample_accuracies(archs, args.out, supernet_path=str(path), data=data, device=args.device,
                                         batch_size=args.batch_size, amp=args.amp, workers=args.workers,
                                         ray_address=args.ray_address, progress=show, resuming=resuming, step=update)
    print(f"{args.out}: {new} subnets evaluated" + (f", {skipped} already there" if skipped else ""))
    return 0


def run_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from nasedge.commands.inputs import spaces_of
    from nasedge.errors import NasedgeError
    from nasedge.predict.accuracy import MIN_RANKED, AccuracyPredictor, held_out_scores, load_accuracy_dataset

    if not 0 < args.held_out < 1:
        raise NasedgeError(f"--held-out: value {args.held_out:g} is not valid; expected a share in (0, 1)")
    if args.splits < 1:
        raise NasedgeError(f"--splits: value {args.splits} is not valid; expected 1 or more")
    archs, top1 = load_accuracy_dataset(args.samples)
    if not archs:
        raise NasedgeError(f"{args.samples}: no samples")
    spaces = spaces_of(args.samples, archs)
    if len(spaces) > 1:
        raise NasedgeError(f"{args.samples}: samples of several spaces ({', '.join(spaces)})")
    space = spaces[archs[0].space]
    scores = held_out_scores(space, archs, top1, args.splits, args.held_out)
    rmse = float(np.mean([s["rmse"] for s in scores]))
    ranked = scores[0]["spearman"] is not None  # every split holds out as many
    rho = round(float(np.mean([s["spearman"] for s in scores])), 4) if ranked else None
    meta = {"source": str(args.samples), "samples": len(archs), "held_out_rmse": round(rmse, 4),
            "held_out_spearman": rho, "splits": scores}
    AccuracyPredictor(space).fit(archs, top1).save(args.out, meta=meta)
    if args.json:
        print(json.dumps({"out": str(args.out), "space": space.name, **meta}))
        return 0
    print(f"{len(archs)} samples of {space.name}: top-1 mean {top1.mean():.2f} %, std {top1.std():.2f}, "
          f"range {top1.min():.2f}-{top1.max():.2f}")
    for s in scores:
        print(f"split {s['split']}: fit on {s['fit_on']}, held out {s['held_out']}: RMSE {s['rmse']:.3f} points"
              + (f", Spearman {s['spearman']:.3f}" if ranked else ""))
    spearman = (f"Spearman {rho:.3f}" if ranked else
                f"no Spearman (it needs {MIN_RANKED} held out per split: a larger --held-out, or more samples)")
    print(f"held-out RMSE {rmse:.3f} points, {spearman} (mean of {len(scores)} splits); "
          f"{args.out}: fitted on all {len(archs)}")
    return 0
