"""Fitting time of `meta` (a profile: the fit plus its 20-fold cross-validation) with LAPACK's potrf/potrs against
numpy's cholesky and two general solves (the code before), interleaved in one process; synthetic latencies.

    OMP_NUM_THREADS=1 python experiments/latency_predictors/fit_time.py 20 40 100 200     (~6 min on one core)
"""
import sys
import time

import numpy as np

import nasedge.predict.meta as M
from nasedge.cost import arch_cost
from nasedge.predict.profile import fit_profile
from nasedge.spaces import get_space


def numpy_cholesky(k):
    return np.linalg.cholesky(k)


def numpy_cho_solve(chol, b):
    return np.linalg.solve(chol.T, np.linalg.solve(chol, b))


WAYS = {"numpy": (numpy_cholesky, numpy_cho_solve), "lapack": (M._cholesky, M._cho_solve)}
space = get_space("ofa_mbv3_cifar")
rng = np.random.default_rng(0)
fit_profile("warm", "ofa_mbv3_cifar", space.sample_many(20, 1), list(rng.uniform(1, 2, 20)), cv_folds=3)
for n in map(int, sys.argv[1:]):
    archs = space.sample_many(n, 0)
    lat = [0.5 + arch_cost(a, space).macs / 5e7 * rng.uniform(0.9, 1.1) for a in archs]
    times = {w: [] for w in WAYS}
    preds = {}
    for rep in range(3):
        for way, (chol, solve) in WAYS.items():
            M._cholesky, M._cho_solve = chol, solve
            t = time.perf_counter()
            p = fit_profile("x", "ofa_mbv3_cifar", archs, lat, cv_folds=20)
            times[way].append(time.perf_counter() - t)
            preds[way] = p.predict(space.sample_many(200, 2))
    a, b = np.median(times["numpy"]), np.median(times["lapack"])
    diff = np.max(np.abs(preds["numpy"] - preds["lapack"]) / preds["numpy"])
    print(f"{n} samples: numpy {a:.2f} s, lapack {b:.2f} s (medians of 3, interleaved), ratio {a / b:.2f}; "
          f"largest relative difference of 200 predictions {diff:.1e}", flush=True)
