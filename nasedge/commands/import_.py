"""Import weights published by other projects as nasedge files.

  nasedge import ofa ofa_mbv3_d234_e346_k357_w1.2 --out runs/ofa_w1.2/supernet.pt
  nasedge import ofa ofa_mbv3_d234_e346_k357_w1.0 --space ofa_mbv3_w1.0 --out runs/ofa_w1.0/supernet.pt
  nasedge import ofa ofa_mbv3_d234_e346_k357_w1.2 --accuracy-predictor acc_predictor.pth --out runs/ofa/supernet.pt
  nasedge import ofa ofa_proxyless_d234_e346_k357_w1.3 --space ofa_proxyless_w1.3 --out runs/proxyless/supernet.pt

``ofa`` reads a Once-for-All supernet checkpoint (``{"state_dict": ...}`` or a bare state dict), checks
every tensor's name and shape (and that its values are finite) against the nasedge supernet of the space (default: the one of
ofa_mbv3_w1.0 / ofa_mbv3_w1.2 / ofa_proxyless_w1.3 that fits) and writes a nasedge supernet whose ``meta`` names the source
file and its SHA-256. ``--accuracy-predictor`` also converts OFA's ``acc_predictor.pth`` (trained on the
w1.2 supernet) to ``accuracy_predictor.json`` beside ``--out``, where ``nasedge specialize --supernet``
looks for it. ``specialize``, ``eval`` and ``export`` also read an OFA checkpoint directly.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="import_source", metavar="SOURCE", parser_class=type(parser))
    sub.required = True
    p = sub.add_parser("ofa", help="a Once-for-All supernet, OFA-MobileNetV3 or OFA-ProxylessNAS "
                                   "(and OFA's accuracy predictor)")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="OFA supernet checkpoint (e.g. ofa_mbv3_d234_e346_k357_w1.2)")
    p.add_argument("--space", metavar="NAME",
                   help="ofa_mbv3_w1.0, ofa_mbv3_w1.2 or ofa_proxyless_w1.3 (default: the one that fits)")
    p.add_argument("--out", required=True, metavar="FILE.pt", help="nasedge supernet file to write")
    p.add_argument("--accuracy-predictor", metavar="FILE.pth",
                   help="OFA's acc_predictor.pth: written as accuracy_predictor.json beside --out")
    p.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    p.set_defaults(_run=run_ofa)


def run(args: argparse.Namespace) -> int:  # dispatched through the sub-command's own _run
    return args._run(args)


def run_ofa(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nasedge.supernet import save_supernet
    from nasedge.supernet.ofa_checkpoint import import_ofa_checkpoint

    out = Path(args.out)
    supernet = import_ofa_checkpoint(args.checkpoint, args.space)
    predictor_path = None
    if args.accuracy_predictor:  # read (and checked) before anything is written
        from nasedge.predict.ofa_accuracy import OFAAccuracyPredictor

        predictor = OFAAccuracyPredictor.from_ofa_file(args.accuracy_predictor)
        if predictor.space.name != supernet.space.name:
            from nasedge.errors import NasedgeError

            raise NasedgeError(f"{args.accuracy_predictor}: OFA's accuracy predictor is for "
                               f"{predictor.space.name}, the supernet is {supernet.space.name}")
        predictor_path = out.parent / "accuracy_predictor.json"
    save_supernet(supernet, out, meta=supernet.meta)
    if predictor_path is not None:
        predictor.save(predictor_path)
    summary = {"supernet": str(out), "space": supernet.space.name, "num_classes": supernet.num_classes,
               "source_sha256": supernet.meta["source_sha256"],
               "accuracy_predictor": None if predictor_path is None else str(predictor_path)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{out}: {supernet.space.name} supernet imported from {args.checkpoint} "
              f"(sha256 {summary['source_sha256'][:12]})"
              + (f"; accuracy predictor {predictor_path}" if predictor_path else ""))
    return 0
