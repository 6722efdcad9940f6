"""A roofline model of the FBNet archs as a candidate for devices unlike the prior's (fourteenth session of issue 20):
every conv of every block costs max(its MACs / P_kind, the elements it reads and writes / B) plus a fixed cost per
conv, with one throughput P per kind of conv (pointwise, grouped pointwise, depthwise 3x3, depthwise 5x5), one
bandwidth B, the fixed cost and a constant (the stem and head): 7 numbers, fitted to relative errors (soft-L1) from
12 starts. Physics instead of free per-stage rates, so few enough numbers for 20 samples, if the shape is right.

    python experiments/latency_predictors/tried/roofline.py N [TARGETS]     (N archs to fit; 3 draws per target, each
                                                                            judged on 1,000 other archs; ~1-3 min)
"""
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
from expcli import DATASETS, plain_args, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError, unknown_name  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402
from nasedge.predict.encodings.fbnet import _LAYERS, _RES, _STEM, OPS, _op  # noqa: E402

DATA = DATASETS / "latency" / "help" / "fbnet"
OTHERS = ("essential_ph_1", "eyeriss", "fpga", "gold_6226", "gold_6240", "pixel2", "pixel3", "raspi4", "samsung_a50",
          "samsung_s7", "silver_4114", "silver_4210r")
SMOOTH = 6.0  # the max as a p-norm, for the optimiser's gradients


def convs(items):
    """Per arch and conv slot (22 blocks x 3): kind (-1: none; 0 pointwise, 1 grouped pointwise, 2 dw3, 3 dw5),
    MACs, and elements read and written (input, output, weights)."""
    kind, macs, elems = -np.ones((len(items), 66), int), np.zeros((len(items), 66)), np.zeros((len(items), 66))
    for a, ops in enumerate(items):
        size, cin = _RES // 2, _STEM
        for layer, ((cout, stride, _), op) in enumerate(zip(_LAYERS, ops)):
            out, j = (size - 1) // stride + 1, 3 * layer
            if OPS[op] == "skip":
                if stride != 1 or cin != cout:
                    kind[a, j], macs[a, j] = 0, cin * cout * out * out
                    elems[a, j] = cin * size * size + cout * out * out + cin * cout
            else:
                k, e, g = _op(OPS[op])
                h = cin * e
                kind[a, j:j + 3] = (1 if g == 2 else 0, 2 if k == 3 else 3, 1 if g == 2 else 0)
                macs[a, j:j + 3] = (cin * h * size * size / g, h * k * k * out * out, h * cout * out * out / g)
                elems[a, j:j + 3] = (cin * size * size + h * size * size + cin * h / g,
                                     h * size * size + h * out * out + h * k * k,
                                     h * out * out + cout * out * out + h * cout / g)
            cin, size = cout, out
    return kind, macs, elems


def predict(theta, kind, macs, elems):
    compute = macs * 1e-6 / np.exp(theta[:4])[np.maximum(kind, 0)]
    memory = elems * 1e-6 / np.exp(theta[4])
    per_conv = (compute ** SMOOTH + memory ** SMOOTH) ** (1 / SMOOTH) + np.exp(theta[5])
    return np.exp(theta[6]) + np.where(kind >= 0, per_conv, 0.0).sum(1)


def solve(start, kind, macs, elems, y):
    """The least-squares fit (relative errors, soft-L1) from the numbers ``start``."""
    return least_squares(lambda th: (predict(th, kind, macs, elems) - y) / y, start, loss="soft_l1", f_scale=0.05,
                         max_nfev=400)


def fit(kind, macs, elems, y):
    starts = [np.r_[[log_p] * 4, log_b, np.log(0.01 * y.mean() / 20), np.log(0.1 * y.mean())]
              for log_b in (-4, -2, 0, 2) for log_p in (-4, -2, 0)]
    return min((solve(s, kind, macs, elems, y) for s in starts), key=lambda r: r.cost).x


def main(n: int, targets) -> None:
    ds = load_dataset(DATA)
    for target in targets:
        if target not in ds.devices:
            raise unknown_name("device", target, ds.devices)
    kind, macs, elems = convs(ds.items)
    rng = np.random.default_rng(0)
    rows = []
    for target in targets:
        y = ds.column(target)
        ok = np.flatnonzero(np.isfinite(y))
        rho, w10 = [], []
        for _ in range(3):
            perm = rng.permutation(ok)
            train, test = perm[:n], perm[n:n + 1000]
            pred = predict(fit(kind[train], macs[train], elems[train], y[train]), kind[test], macs[test], elems[test])
            rho.append(spearmanr(pred, y[test])[0])
            w10.append(100 * np.mean(np.abs(pred - y[test]) / y[test] <= 0.1))
        rows.append((np.mean(rho), np.mean(w10)))
        print(f"{target:15s} N={n}: Spearman {rows[-1][0]:.3f}, within 10 % {rows[-1][1]:.1f}", flush=True)
    print(f"{'mean':15s} N={n}: Spearman {np.mean([r[0] for r in rows]):.3f}, "
          f"within 10 % {np.mean([r[1] for r in rows]):.1f}")


def parse():
    n, *targets = plain_args(__doc__, "N [TARGETS]", 1, 2)
    try:
        n = positive_int(n)
    except ValueError:
        raise NasedgeError(f"N {n!r}: expected a number of archs of at least 1") from None
    return n, targets[0].split(",") if targets else OTHERS


if __name__ == "__main__":
    run(lambda: main(*parse()))
