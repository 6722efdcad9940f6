"""Do the predictors' figures hang on the unit? Every device of a dataset timed k times faster or slower (all
latencies times k, sources and target alike), benchmarked as measured: the figures must not move.

  python experiments/latency_predictors/units.py        # fbnet, 3 targets, 4 predictors, 3 units; ~6 min, one core

``--data`` defaults to HELP's fbnet under ``$NASEDGE_DATASETS`` (else ../shared/datasets beside the repository). The
table goes to stdout, progress to stderr; nothing is written. Bad input (a dataset folder, a device or predictor
name, a factor) is one line, exit status 2, before the work.

The default targets include a phone, which reports whole milliseconds: times 0.001 it reports whole
microseconds, the rounding `meta` has to recognise in any unit; fpga and gold_6226 are timed finely.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import DATASETS, ArgumentParser, numbers, positive_int, run  # noqa: E402  (after the sys.path entry)

from benches import check_predictors  # noqa: E402

from nasedge.errors import NasedgeError, unknown_name  # noqa: E402
from nasedge.predict.base import LATENCY_RANGE_MS  # noqa: E402
from nasedge.predict.benchmark import evaluate  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402
from nasedge.progress import progress_reporter  # noqa: E402

GPUS = "1080ti_1,1080ti_32,2080ti_1,2080ti_32,titan_rtx_1,titan_rtx_32,pixel3,samsung_a50"


def check(ds, targets: list[str], sources: list[str], units: list[float]) -> None:
    """Every device of the dataset, no target among the sources, and every scaled latency one a predictor fits on;
    else a one-line error before the work (found at its turn, it came after minutes of the others)."""
    for device in (*targets, *sources):
        if device not in ds.devices:
            raise unknown_name("device", device, ds.devices)
    both = sorted(set(targets) & set(sources))
    if both:
        raise NasedgeError(f"--targets {','.join(both)}: also in --sources; a target is never its own source")
    y = ds.latency[:, [ds.devices.index(d) for d in (*targets, *sources)]]
    y = y[np.isfinite(y)]
    low, high = LATENCY_RANGE_MS
    for k in units:
        if y.size and (y.min() * k < low or y.max() * k > high):
            raise NasedgeError(f"--units: factor {k:g} puts latencies at {y.min() * k:g} to {y.max() * k:g} ms; "
                               f"predictors fit latencies from {low:g} to {high:g} ms")


def main() -> int:
    ap = ArgumentParser(description=__doc__.splitlines()[0], prog="units.py")
    ap.add_argument("--data", default=str(DATASETS / "latency" / "help" / "fbnet"), help="(default: %(default)s)")
    ap.add_argument("--targets", default="pixel2,fpga,gold_6226")
    ap.add_argument("--sources", default=GPUS)
    ap.add_argument("--predictors", default="meta,flops,regressor,totals")
    ap.add_argument("--units", default="1,0.001,1000", help="factors applied to every latency")
    ap.add_argument("--seeds", type=positive_int, default=1)
    args = ap.parse_args()
    units = numbers("--units", args.units, float, 0)
    targets, sources = args.targets.split(","), args.sources.split(",")
    predictors = check_predictors(args.predictors.split(","))
    ds = load_dataset(args.data)
    check(ds, targets, sources, units)
    print("| target | predictor | " + " | ".join(f"x {k:g}" for k in units) + " |")
    print("|---" * (2 + len(units)) + "|", flush=True)
    done = 0
    with progress_reporter("units", len(targets) * len(predictors) * len(units), unit="benchmarks",
                           interval=30) as update:
        for target in targets:
            for predictor in predictors:
                cells = []
                for k in units:
                    scaled = dataclasses.replace(ds, latency=ds.latency * k)
                    r = evaluate(scaled, target, predictor, protocol="untrimmed", shots=20, seeds=args.seeds,
                                 sources=sources)
                    cells.append(f"{r['spearman']:.4f} / {100 * r['within_10pct']:.1f} %")
                    done += 1
                    update(done)
                print(f"| {target} | {predictor} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
