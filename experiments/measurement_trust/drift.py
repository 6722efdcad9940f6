"""Pass-to-pass agreement under machine drift: the same archs measured in several passes, per protocol variant.

On a host whose speed drifts (this project's shared 2-vCPU VM; a board that heats up), a latency measured in
one short window inherits the machine's speed at that moment. This script measures the same archs (the
profile archs of a space: what `predictor fit` and `specialize` measure) in ``--passes`` passes per
variant, the variants interleaved pass by pass so that all see the same drift, and reports for every pair of
passes of a variant the share of archs whose two medians agree within +-10 % as measured (``raw``) and after
dividing out the pair's common level (``level-free``: what a latency *ranking* and a predictor's shape
need), the median level-free deviation, each pass's summed latency (its level), time per pass and flags.

  cd <repo> && PYTHONPATH=$PWD python experiments/measurement_trust/drift.py --passes 3 --out drift.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

VARIANTS = {  # name -> protocol overrides of the device
    "one arch at a time": {"group_size": 1},
    "one at a time + machine check": {"group_size": 1, "probe_s": 0.15, "probe_tolerance": 0.15,
                                      "probe_wait_s": 60},
    "groups of 10": {"group_size": 10},
    "one group of 20": {"group_size": 20},
}
# --variants journal: the variants after the round journal (groups keep their rounds as they are timed)
JOURNAL_VARIANTS = ("one arch at a time", "groups of 10", "one group of 20")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu-ort-t1")
    ap.add_argument("--space", default="ofa_mbv3_cifar")
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--out", help="JSON file for the per-pass medians and the summary")
    ap.add_argument("--variants", choices=("all", "journal"), default="all")
    ap.add_argument("--score", metavar="DATASET", help="do not measure: fit `meta` to each pass of --out's runs and "
                    "score it on the device's column of this latency dataset (Spearman, within 10 %% raw and "
                    "after the level is divided out)")
    args = ap.parse_args()
    if args.score:
        return _score(args.out, args.score)
    import tempfile
    from pathlib import Path

    from nasedge.measure import measure_to_csv
    from nasedge.predict.profile import profile_archs

    archs = profile_archs(args.space, args.archs, active=False)  # the archs of the stored runs: drawn at random
    variants = {k: v for k, v in VARIANTS.items() if args.variants == "all" or k in JOURNAL_VARIANTS}
    runs: dict[str, list] = {k: [] for k in variants}
    work = Path(tempfile.mkdtemp(prefix="drift-"))
    for p in range(args.passes):
        for v, (name, protocol) in enumerate(variants.items()):
            device = _device(args.device, protocol)
            t = time.perf_counter()
            # as `predictor fit` measures a profile: into a CSV, rows as they come (groups: rounds journaled)
            ms = measure_to_csv(device, [(str(i), a) for i, a in enumerate(archs)], work / f"p{p}-v{v}.csv")
            runs[name].append({"seconds": time.perf_counter() - t, "median_ms": [m.median_ms for m in ms],
                               "noisy": sum(m.noisy for m in ms)})
            print(f"pass {p + 1} {name}: {runs[name][-1]['seconds']:.0f} s, level {sum(runs[name][-1]['median_ms']):.1f} ms, "
                  f"{runs[name][-1]['noisy']} noisy", flush=True)
    summary = {name: _agreement(rs) for name, rs in runs.items()}
    print("| variant | level-free within 10 % (pairs) | level-free median deviation | raw within 10 % | levels (ms) | s / pass | noisy |")
    print("|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['level_free_within_10']:.0%} ({', '.join(f'{x:.0%}' for x in s['pairs'])}) | "
              f"{s['level_free_median_dev']:.1%} | {s['raw_within_10']:.0%} | {s['levels']} | {s['seconds']} | {s['noisy']} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": args.device, "space": args.space, "summary": summary, "runs": runs}, f, indent=1)


def _score(runs_json: str, dataset: str) -> None:
    """How well a profile of each pass predicts a dataset of the device measured at another time."""
    from scipy.stats import spearmanr

    from nasedge.predict import predictor_class
    from nasedge.predict.dataset import load_dataset
    from nasedge.predict.profile import profile_archs

    doc = json.load(open(runs_json))
    ds = load_dataset(dataset, None)
    y = ds.column(doc["device"])
    # the stored runs measured the reference archs and random ones (profile_archs' default before the active choice)
    archs = profile_archs(doc["space"], len(next(iter(doc["runs"].values()))[0]["median_ms"]), active=False)
    for name, rs in doc["runs"].items():
        cells = []
        for r in rs:
            p = predictor_class("meta")(doc["space"])
            p.fit(archs, np.array(r["median_ms"]))
            pred = p.predict(ds.items)
            level = np.median(y / pred)
            cells.append(f"{spearmanr(pred, y)[0]:.3f} / {np.mean(np.abs(pred - y) / y < 0.1):.0%} / "
                         f"{np.mean(np.abs(pred * level - y) / y < 0.1):.0%}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def _agreement(rs: list) -> dict:
    pairs, raw, dev = [], [], []
    for a, b in itertools.combinations([np.array(r["median_ms"]) for r in rs], 2):
        ratio = b / a
        raw.append(float(np.mean(np.abs(ratio - 1) <= 0.1)))
        free = ratio / np.median(ratio)
        pairs.append(float(np.mean(np.abs(free - 1) <= 0.1)))
        dev.append(float(np.median(np.abs(free - 1))))
    return {"level_free_within_10": float(np.mean(pairs)), "pairs": pairs, "level_free_median_dev": float(np.mean(dev)),
            "raw_within_10": float(np.mean(raw)), "levels": [round(sum(r["median_ms"]), 1) for r in rs],
            "seconds": [round(r["seconds"]) for r in rs], "noisy": [r["noisy"] for r in rs]}


def _device(name: str, protocol: dict):
    from nasedge.measure import get_device
    from nasedge.measure.device import Device

    base = get_device(name)
    cfg = dict(base.config.measure)
    cfg["protocol"] = {**(cfg.get("protocol") or {}), **protocol}
    return Device.from_config({"name": base.name, "where": "local", "description": base.description,
                               "measure": cfg}, "drift")


if __name__ == "__main__":
    main()
