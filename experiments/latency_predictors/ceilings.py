"""Where a cross-type prior falls short: the prior, or the adaptation? What linear models of three bases
reach with *all* of a target's measurements (even archs fit, odd archs scored; relative least squares):

* ``full``: the meta basis (one-hot choices + cost features + constant), the oracle's model family;
* ``span``: the source devices' heads (their predictions) + a constant: the most any prior built from
  those sources can express, whatever the adaptation;
* ``features``: the cost features + constant, no one-hot choices.

    python experiments/latency_predictors/ceilings.py --data ../shared/datasets/latency/help/fbnet
    python experiments/latency_predictors/ceilings.py --data ../shared/datasets/latency/help/ofa \
        --data latency_predictors/data/ofa_mbv3_w1.2 --reverse

Sources are the GPUs (``--reverse``: every other device), targets the others, as in ``run.py crosstype``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from run import GPU_PREFIXES

from nasedge.predict.dataset import load_dataset
from nasedge.predict.meta import meta_train
from nasedge.predict.metrics import quality


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--reverse", action="store_true", help="sources: the non-GPU devices; targets: the GPUs")
    args = ap.parse_args(argv)
    ds = load_dataset(args.data)
    gpus = [d for d in ds.devices if d.startswith(GPU_PREFIXES)]
    others = [d for d in ds.devices if d not in gpus]
    sources, targets = (others, gpus) if args.reverse else (gpus, others)
    idx = [ds.device_index(d) for d in sources]
    rows = np.flatnonzero(np.isfinite(ds.latency[:, idx]).any(axis=1))
    model = meta_train(ds.encoding, [ds.items[i] for i in rows], ds.latency[np.ix_(rows, idx)], sources)
    print(f"{ds.encoding.name}: sources {', '.join(sources)}\n")
    print("| target | full | span of the source heads | cost features only |\n|---|---|---|---|")
    means = []
    for t in targets:
        y = ds.column(t)
        measured = np.flatnonzero(np.isfinite(y))
        phi = model.basis(ds.encoding, [ds.items[i] for i in measured])
        y = y[measured]
        fit = np.arange(len(y)) % 2 == 0
        bases = (phi, np.concatenate([phi @ model.heads.T, phi[:, -1:]], axis=1), phi[:, model.onehot_width:])
        cells = []
        for x in bases:
            w = np.linalg.lstsq(x[fit] / y[fit, None], np.ones(fit.sum()), rcond=None)[0]
            q = quality(x[~fit] @ w, y[~fit])
            cells.append((q["spearman"], 100 * q["within_10pct"]))
        means.append(cells)
        print(f"| {t} | " + " | ".join(f"{s:.3f} / {w:.0f}" for s, w in cells) + " |")
    m = np.mean(means, axis=0)
    print("| **mean** | " + " | ".join(f"**{s:.3f} / {w:.0f}**" for s, w in m) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
