"""A profile's fit (meta, 20-fold cross-validation; synthetic latencies on the CIFAR space) with one BLAS thread
for numpy's OpenBLAS only (the code before: the limit was set up before scipy's own OpenBLAS was loaded) against
one thread for every BLAS loaded (as shipped), each in a process of its own, interleaved; no OMP_NUM_THREADS.

    python experiments/latency_predictors/blas_threads.py 100 --repeats 2      (~1 min on two cores)
"""
import argparse
import json
import subprocess
import sys

FIT = """if True:
    import json, sys, time
    import numpy as np
    if sys.argv[2] == "numpy-only":
        from threadpoolctl import ThreadpoolController
        controller = ThreadpoolController()  # sees numpy's OpenBLAS, not scipy's (not loaded yet)
        import nasedge.predict.base as B
        B._blas_controller = lambda: controller
    from nasedge.predict.profile import fit_profile
    from nasedge.spaces import get_space
    n = int(sys.argv[1])
    archs = get_space("ofa_mbv3_cifar").sample_many(n, 0)
    y = list(np.random.default_rng(0).uniform(1, 2, n))
    t, c = time.perf_counter(), time.process_time()
    fit_profile("x", "ofa_mbv3_cifar", archs, y, cv_folds=20)
    print(json.dumps([time.perf_counter() - t, time.process_time() - c]))
"""

parser = argparse.ArgumentParser()
parser.add_argument("n", type=int, nargs="+")
parser.add_argument("--repeats", type=int, default=2)
args = parser.parse_args()
for n in args.n:
    for r in range(args.repeats):
        row = []
        for way in ("numpy-only", "every"):
            out = subprocess.run([sys.executable, "-c", FIT, str(n), way], capture_output=True, text=True, check=True)
            wall, cpu = json.loads(out.stdout.splitlines()[-1])
            row.append(f"{way} {wall:.1f} s (cpu {cpu:.1f} s)")
        print(f"{n} measurements, repeat {r + 1}: " + "; ".join(row), flush=True)
