"""Equivalence of imported Once-for-All weights with OFA's own code (issue 17, items 1, 2 and 6).

For OFA-MobileNetV3 w1.0 and w1.2 and OFA-ProxylessNAS w1.3: OFA's OFAMobileNetV3 / OFAProxylessNASNets (the
``ofa`` package) with random weights is saved in OFA's
checkpoint format and imported (``nasedge import ofa``, BatchNorm calibrated for the largest arch; then,
for each of the random archs over the whole resolution range, with BatchNorm calibrated for that arch
the way OFA does before evaluating it, saved again and read directly by ``load_supernet``), and the
logits of nasedge's extracted subnet and dynamic supernet are compared with OFA's
``get_active_subnet`` and active forward on smooth random images. OFA's tutorial accuracy
predictor (random weights, saved as OFA publishes ``acc_predictor.pth``) is loaded as a nasedge
accuracy predictor and compared with OFA's ``predict_accuracy`` on 1,000 archs.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python experiments/imagenet_scale/ofa_equivalence.py --archs 25
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: nasedge and tests/ helpers

from nasedge.arch import Arch  # noqa: E402
from nasedge.cli import main as nasedge  # noqa: E402
from nasedge.predict.accuracy import load_accuracy_predictor  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402
from nasedge.supernet import load_supernet  # noqa: E402
from tests.supernet.ofa_reference import (  # noqa: E402
    calibrate_ofa_bn, compare_with_ofa, ofa_reference_supernet, ofa_tutorial_accuracy_predictor,
    ofa_tutorial_population, random_images, save_ofa_checkpoint)


@torch.no_grad()
def supernet_equivalence(space: str, num_archs: int, batch: int, work: Path) -> dict:
    net = ofa_reference_supernet(space)
    checkpoint = save_ofa_checkpoint(net, work / f"ofa_{space}.pth")
    out = work / space / "supernet.pt"
    assert nasedge(["import", "ofa", str(checkpoint), "--out", str(out)]) == 0  # BN calibrated for the largest
    imported = load_supernet(out).eval()
    m = imported.space.max_arch()  # at the resolution its BatchNorm statistics were calibrated at
    m = Arch(space, m.kernel, m.expand, m.depth, 160)
    largest = compare_with_ofa(net, imported, m, random_images(batch, 160))
    rows, noise, previous = [], torch.randn(batch, 3, 7, 7), None
    for arch in get_space(space).sample_many(num_archs, 17):
        calibrate_ofa_bn(net, arch, batches=2)  # as OFA does before evaluating a subnet
        save_ofa_checkpoint(net, checkpoint)
        supernet = load_supernet(checkpoint).eval()  # the OFA file read directly, as `specialize --supernet` does
        x = random_images(batch, arch.resolution, noise)  # the same images for every arch
        diff = compare_with_ofa(net, supernet, arch, x)
        logits = supernet.extract(arch)(x)
        # how much the logits on the same images differ from the previous arch's (each with its own BN statistics)
        diff["arch_effect"] = float("nan") if previous is None else (logits - previous).abs().max().item()
        previous = logits
        rows.append({"arch": arch.to_dict(), **diff})
    return {"space": space, "archs": len(rows), "batch": batch,
            "resolutions": sorted({r["arch"]["resolution"] for r in rows}),
            "max_abs_subnet": max(r["subnet"] for r in rows), "max_abs_dynamic": max(r["dynamic"] for r in rows),
            "min_logit_scale": min(r["logit_scale"] for r in rows),
            "min_arch_effect": min(r["arch_effect"] for r in rows[1:]),
            "min_input_effect": min(r["input_effect"] for r in rows),
            "imported_largest_arch": largest, "provenance": imported.meta, "per_arch": rows}


def predictor_equivalence(num_archs: int, work: Path) -> dict:
    reference = ofa_tutorial_accuracy_predictor()
    path = work / "acc_predictor.pth"
    torch.save(reference.model.state_dict(), path)
    predictor = load_accuracy_predictor(path)
    archs = get_space(predictor.space.name).sample_many(num_archs, 5)
    expected = reference.predict_accuracy(ofa_tutorial_population(archs)).numpy()[:, 0].astype(np.float64)
    ours = predictor.predict(archs) / 100  # nasedge reports percent, OFA a fraction
    return {"space": predictor.space.name, "archs": num_archs, "max_abs": float(np.abs(ours - expected).max()),
            "output_std": float(expected.std()), "output_range": [float(expected.min()), float(expected.max())]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=25, help="random archs per space (whole resolution range)")
    ap.add_argument("--batch", type=int, default=4, help="random images per arch")
    ap.add_argument("--predictor-archs", type=int, default=1000)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = ap.parse_args()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spaces = [supernet_equivalence(s, args.archs, args.batch, Path(tmp))
                  for s in ("ofa_mbv3_w1.0", "ofa_mbv3_w1.2", "ofa_proxyless_w1.3")]
        predictor = predictor_equivalence(args.predictor_archs, Path(tmp))
    result = {"supernets": spaces, "accuracy_predictor": predictor, "torch": torch.__version__,
              "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for s in spaces:
        print(f"{s['space']}: {s['archs']} archs, resolutions {s['resolutions'][0]}-{s['resolutions'][-1]}: max abs "
              f"subnet {s['max_abs_subnet']:.2e}, dynamic {s['max_abs_dynamic']:.2e} (logits >= "
              f"{s['min_logit_scale']:.2f}; another arch changes them by >= {s['min_arch_effect']:.2f}, another image by >= "
              f"{s['min_input_effect']:.2f})")
    for s in spaces:
        print(f"{s['space']} as imported by `nasedge import ofa` (largest arch, 160 px): max abs "
              f"{max(s['imported_largest_arch']['subnet'], s['imported_largest_arch']['dynamic']):.2e}")
    print(f"accuracy predictor ({predictor['space']}): {predictor['archs']} archs, max abs {predictor['max_abs']:.2e} "
          f"(outputs std {predictor['output_std']:.3f})")


if __name__ == "__main__":
    main()
