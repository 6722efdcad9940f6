"""The roofline model (roofline.py) as a sixth candidate of `meta`'s blend, on the tasks cached by blend_cache.py
(fourteenth session of issue 20; FBNet only: the roofline needs each conv's cost). Run in the folder holding
cache_<bench>.pkl:

    python experiments/latency_predictors/tried/roofline_blend.py ct-fb      (~5 min on one core)

Each task's archs are read back from the one-hot columns of the cached basis; the roofline is fitted on the 20
samples (12 starts), and its leave-one-out predictions refit without each sample from the full fit's numbers.
Prints Spearman / within ±10 % of the blend as it is (`base`), with the roofline as a sixth candidate, and of the
roofline alone, means over the targets as the inner loop.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from blend_variants import read_cache, score  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.encodings.fbnet import NUM_LAYERS, OPS  # noqa: E402
from roofline import convs, fit, predict, solve  # noqa: E402


def ops_of(phi):
    return [tuple(int(i) for i in row) for row in phi[:, :NUM_LAYERS * len(OPS)].reshape(
        len(phi), NUM_LAYERS, len(OPS)).argmax(2)]


def main(bench: str) -> None:
    if not bench.endswith("-fb"):
        raise NasedgeError(f"benchmark {bench!r}: the roofline needs FBNet's convs; give ct-fb, ctr-fb or help-fb")
    tasks = read_cache(bench)
    loos, qps = [], []
    for n, t in enumerate(tasks):
        y = t["ym"]
        k, m, e = convs(ops_of(t["phi"]))
        theta = fit(k, m, e, y)
        loo = np.empty(len(y))
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            loo[i] = predict(solve(theta, k[keep], m[keep], e[keep], y[keep]).x, k[i:i + 1], m[i:i + 1], e[i:i + 1])[0]
        kq, mq, eq = convs(ops_of(t["phq"]))
        loos.append({**t["loo"], "roofline": loo})
        qps.append({**t["qp"], "roofline": predict(theta, kq, mq, eq)})
        if n % 10 == 9:
            print(f"{n + 1}/{len(tasks)} tasks", file=sys.stderr, flush=True)
    base = score(tasks, lambda t, i: M.choose_blend(t["ym"], t["loo"])["weights"])
    plus = score(tasks, lambda t, i: M.choose_blend(t["ym"], loos[i])["weights"], qps)
    alone = score(tasks, lambda t, i: {"roofline": 1.0}, qps)
    print(f"{bench}: base {base[0]:.3f} / {base[1]:.1f}, plus roofline {plus[0]:.3f} / {plus[1]:.1f}, "
          f"roofline alone {alone[0]:.3f} / {alone[1]:.1f}")


if __name__ == "__main__":
    run(main, *plain_args(__doc__, "BENCH (one of FBNet's: ct-fb, ctr-fb, help-fb)", 1, 1))
