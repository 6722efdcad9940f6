"""Ceiling of an additive model on fbnet (thirteenth session of issue 20): ridge on the 198 one-hot choices (22 layers
x 9 ops) fitted on 4,000 archs of each device, in log latency, judged on the other 1,000. Where this matches the
`oracle` (the meta basis fitted on every arch), the oracle is the data's ceiling, not the model family's.

    python experiments/latency_predictors/tried/onehot_ceiling.py [../shared/datasets/latency/help/fbnet]   (seconds)
"""
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
from expcli import DATASETS, plain_args, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402


def main():
    given = plain_args(__doc__, "[FBNET_DATASET_FOLDER]", 0, 1)
    root = Path(given[0]) if given else DATASETS / 'latency' / 'help' / 'fbnet'
    ds = load_dataset(root)
    if len(ds) <= 4000:
        raise NasedgeError(f"{root}: {len(ds)} archs; the ceiling fits on 4,000 and judges on the others")
    onehot = np.concatenate([ds.encoding.onehot(ds.items), np.ones((len(ds), 1))], 1)
    perm = np.random.default_rng(0).permutation(len(ds))
    train, test = perm[:4000], perm[4000:]
    gram = onehot[train].T @ onehot[train] + 1e-3 * np.eye(onehot.shape[1])
    print(f"{'device':15s} {'distinct':>8s} {'spearman':>8s} {'within 10 %':>11s}")
    for device in ds.devices:
        y = ds.column(device)
        w = np.linalg.solve(gram, onehot[train].T @ np.log(y[train]))
        pred = np.exp(onehot[test] @ w)
        rho = spearmanr(pred, y[test])[0]
        within = 100 * np.mean(np.abs(pred / y[test] - 1) < 0.1)
        print(f"{device:15s} {len(np.unique(y)):8d} {rho:8.3f} {within:11.1f}")


if __name__ == '__main__':
    run(main)
