"""Do more samples pay on the synthetic devices of tests/predict/test_profile.py? (issue 20, eighth session)

    python experiments/latency_predictors/tried/more_samples_synthetic.py [VARIANT]

For a device the prior fits about as well as anything (latency = a fixed cost per layer, 3 % noise) and one unlike
the prior (latency set by the activations written alone, 3 % noise): `meta`'s mean relative error on 500 random
query archs against the noiseless latency, fitted on the first 20, 30 and 40 profile archs (3 seeds of the archs and
the noise), and whether `more_samples()` asks for more at 20. VARIANT: a name in variants.py (e.g. `before-totals`).
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parent))
from expcli import plain_args, run  # noqa: E402  (after the sys.path entry)

from nasedge.predict import create_predictor, get_encoding  # noqa: E402
from nasedge.predict.profile import profile_archs  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402

def main():
    variant = plain_args(__doc__, "[VARIANT]", 0, 1)
    if variant:
        __import__("variants").apply(variant[0])
    space = get_space("ofa_mbv3_cifar")
    enc = get_encoding(space)
    names = list(enc.feature_names)
    act, layers = names.index("act"), names.index("layers")
    query = space.sample_many(500, rng=123)
    devices = {"launch-bound (the prior fits)": lambda a: 0.5 + 0.3 * enc.features(a)[:, layers],
               "activations alone (unlike the prior)": lambda a: 0.5 + 1e-5 * enc.features(a)[:, act]}
    for name, latency in devices.items():
        truth = latency(query)
        for n in (20, 30, 40):
            errors, asks = [], []
            for seed in range(3):
                archs = profile_archs(space, n, seed=seed)
                noise = np.array([np.random.default_rng(1000 * seed + k).standard_normal() for k in range(n)])
                p = create_predictor("meta", space).fit(archs, latency(archs) * (1 + 0.03 * noise))
                errors.append(np.mean(np.abs(p.predict(query) / truth - 1)))
                asks.append(bool(p.more_samples()))
            print(f"{name}, {n} samples: query error {100 * np.mean(errors):.2f} %"
                  + (f"; asks for more in {sum(asks)} of 3" if n == 20 else ""))


if __name__ == '__main__':
    run(main)
