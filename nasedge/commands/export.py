"""Export a subnet for deployment (ONNX, PyTorch, TFLite).

  nasedge export --arch arch.json --format onnx,torch,pt2,tflite --out DIR [--supernet PATH | --init random]

The subnet is extracted from the supernet (default: the embedded one of the arch's space) or, with
``--init random``, freshly initialised. ONNX files are checked against onnxruntime, TFLite files against
the LiteRT interpreter and ``torch.export`` programs (pt2) loaded back, before they are kept.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, metavar="FILE.json", help="the arch to export")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--supernet", metavar="PATH", help="supernet checkpoint to extract the subnet from")
    src.add_argument("--init", choices=("random",), help="export freshly initialised weights instead")
    parser.add_argument("--format", default="onnx,torch",
                        help="comma-separated: onnx, torch (TorchScript), pt2 (torch.export program), tflite (needs the "
                             "tflite extra); default onnx,torch")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")


def run(args: argparse.Namespace) -> int:
    from nasedge.arch import Arch
    from nasedge.config import compose
    from nasedge.export import export_subnet, parse_formats
    from nasedge.spaces import get_space
    from nasedge.supernet import subnet_from_config

    formats = parse_formats(args.format)
    if "tflite" in formats:  # before any format is written
        from nasedge.export.tflite import require_tflite

        require_tflite()
    arch = Arch.load(args.arch)
    space = get_space(arch.space)
    arch = space.validate(arch, source=args.arch)
    cfg = compose(args.overrides)
    if args.supernet:
        cfg.supernet.checkpoint, cfg.supernet.init = args.supernet, "checkpoint"
    if args.init:
        cfg.supernet.init = args.init
    model = subnet_from_config(cfg.supernet, arch, space, seed=cfg.seed)
    for fmt, path in export_subnet(model, arch, formats, args.out).items():
        print(f"{fmt}: {path}")
    return 0
