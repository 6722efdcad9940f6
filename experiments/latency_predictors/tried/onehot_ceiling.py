"""Ceiling of an additive model on fbnet (thirteenth session of issue 20): ridge on the 198 one-hot choices (22 layers
x 9 ops) fitted on 4,000 archs of each device, in log latency, judged on the other 1,000. Where this matches the
`oracle` (the meta basis fitted on every arch), the oracle is the data's ceiling, not the model family's.

    python experiments/latency_predictors/tried/onehot_ceiling.py [../shared/datasets/latency/help/fbnet]   (seconds)
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / 'shared/datasets/latency/help/fbnet')
rows = list(csv.reader(open(root / 'latency_ms.csv')))
devices, table = rows[0][1:], np.array([[float(x) for x in r] for r in rows[1:]])
ops = {d['arch_id']: d['ops'] for d in map(json.loads, open(root / 'archs.jsonl'))}
choice = np.array([ops[int(i)] for i in table[:, 0]])
latency = table[:, 1:]
layers, width = choice.shape[1], int(choice.max()) + 1
onehot = np.zeros((len(choice), layers * width + 1))
onehot[:, -1] = 1.0
for j in range(layers):
    onehot[np.arange(len(choice)), j * width + choice[:, j]] = 1.0
perm = np.random.default_rng(0).permutation(len(choice))
train, test = perm[:4000], perm[4000:]
gram = onehot[train].T @ onehot[train] + 1e-3 * np.eye(onehot.shape[1])
print(f"{'device':15s} {'distinct':>8s} {'spearman':>8s} {'within 10 %':>11s}")
for k, device in enumerate(devices):
    y = latency[:, k]
    w = np.linalg.solve(gram, onehot[train].T @ np.log(y[train]))
    pred = np.exp(onehot[test] @ w)
    rho = spearmanr(pred, y[test])[0]
    within = 100 * np.mean(np.abs(pred / y[test] - 1) < 0.1)
    print(f"{device:15s} {len(np.unique(y)):8d} {rho:8.3f} {within:11.1f}")
