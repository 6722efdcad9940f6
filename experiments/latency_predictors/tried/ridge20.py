"""Ridge regression on the cost features with 20 samples, its penalty chosen on the query archs: an upper bound of
that model family with 20 random samples (no choice made from the samples can do better), for the cross-type task
GPUs -> others, seed 0 x 5 folds, beside `flat` alone (the prior-free candidate of `meta`).

    python experiments/latency_predictors/tried/ridge20.py fbnet      (or nasbench201)
"""
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "latency_predictors"))
sys.path.insert(0, str(ROOT / "experiments"))  # expcli
from expcli import DATASETS, plain_args, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import unknown_name  # noqa: E402
from nasedge.predict import meta as M  # noqa: E402
from nasedge.predict.benchmark import untrimmed_tasks  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402
from run import GPU_PREFIXES  # noqa: E402  (which devices are GPUs)

H = DATASETS / "latency" / "help"
PENALTIES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def ridge(x, y, penalty):
    """Ridge on relative errors (rows weighted 1/y), the constant free."""
    a = np.concatenate([x, np.ones((len(y), 1))], 1) / y[:, None]
    d = penalty * np.eye(a.shape[1])
    d[-1, -1] = 0.0
    return np.linalg.solve(a.T @ a + d + 1e-9 * np.eye(a.shape[1]), a.T @ np.ones(len(y)))


def quality(pred, true):
    return spearmanr(pred, true)[0], 100 * np.mean(np.abs(pred - true) / true <= 0.1)


def main(space):
    if space not in ("fbnet", "nasbench201"):
        raise unknown_name("space", space, ["fbnet", "nasbench201"])
    ds = load_dataset(H / space, None)
    feats = ds.encoding.features(ds.items)
    x = feats / np.where(feats.std(0) > 0, feats.std(0), 1.0)
    onehot = ds.encoding.onehot(ds.items)
    phi = np.concatenate([onehot, x, np.ones((len(x), 1))], 1)
    groups = M.variance_groups(onehot.shape[1], ds.encoding.feature_names)
    gpus = [d for d in ds.devices if d.startswith(GPU_PREFIXES)]
    rows = []
    for target in (d for d in ds.devices if d not in gpus):
        y = ds.column(target)
        tasks = untrimmed_tasks(ds, target, 20, 1, 5, sources=gpus)
        true = np.concatenate([y[t.query] for t in tasks])
        flat = []
        for t in tasks:
            s = t.measured
            head, _, _ = M.flat_adapt(groups, phi[s], y[s], (y[s] / y[s].mean()) ** 2)
            flat.append(phi[t.query] @ head)
        best = max(quality(np.concatenate([x[t.query] @ c[:-1] + c[-1] for t in tasks
                                           for c in [ridge(x[t.measured], y[t.measured], p)]]), true)
                   for p in PENALTIES)
        rows.append((*quality(np.concatenate(flat), true), *best))
        print(f"{target:16s} flat {rows[-1][0]:.3f} / {rows[-1][1]:5.1f}   ridge, best penalty "
              f"{rows[-1][2]:.3f} / {rows[-1][3]:5.1f}", flush=True)
    m = np.mean(rows, 0)
    print(f"{'mean':16s} flat {m[0]:.3f} / {m[1]:5.1f}   ridge, best penalty {m[2]:.3f} / {m[3]:5.1f}")


if __name__ == "__main__":
    run(main, *plain_args(__doc__, "SPACE (fbnet or nasbench201)", 1, 1))
