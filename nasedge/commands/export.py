"""Export a subnet for deployment (ONNX, PyTorch, TFLite).

  nasedge export --arch arch.json --format onnx,torch,pt2,tflite --out DIR [--supernet PATH | --init random]

The subnet is extracted from the supernet (default: the embedded one of the arch's space) or, with
``--init random``, freshly initialised. An extracted subnet's BatchNorm statistics are re-estimated on the
configured data first, as ``nasedge eval`` does (a subnet carries the supernet's statistics, which cost it
accuracy); where that data does not fit the supernet and none was given, the subnet is exported as extracted,
with a warning (``--no-recalibrate``: as extracted, silently; data given, e.g. ``data=imagenet``, still goes into
the manifest as the input's preprocessing, once checked to fit the supernet). ``--space my_space.yaml``: the arch's
space where it is a YAML of one's own, not an installed one. ONNX files are checked against onnxruntime, TFLite
files against the LiteRT interpreter and ``torch.export`` programs (pt2) loaded back, before they are kept.
``manifest.json`` beside them says what was exported and how to feed it. The files of an earlier export (or
``specialize`` pick) in ``--out`` are replaced as a whole when every file is written, or kept as they were.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, metavar="FILE.json", help="the arch to export")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--supernet", metavar="PATH", help="supernet checkpoint to extract the subnet from")
    src.add_argument("--init", choices=("random",), help="export freshly initialised weights instead")
    parser.add_argument("--format", default="onnx,torch",
                        help="comma-separated: onnx, torch (TorchScript), pt2 (torch.export program), tflite (needs the "
                             "tflite extra); default onnx,torch")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--space", metavar="FILE.yaml",
                        help="the arch's space, where it is a space YAML of your own (installed spaces: by name)")
    parser.add_argument("--no-recalibrate", action="store_true",
                        help="keep the supernet's BatchNorm statistics (default: re-estimated on the configured data)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")


def run(args: argparse.Namespace) -> int:
    from nasedge.arch import Arch
    from nasedge.commands.inputs import space_shapes, spaces_of
    from nasedge.config import compose
    from nasedge.export import export_subnet, parse_formats
    from nasedge.specialize.report import replacing_pick
    from nasedge.supernet import subnet_from_config
    from nasedge.writer_lock import locked_folder

    formats = parse_formats(args.format)
    if "tflite" in formats:  # before any format is written
        from nasedge.export.tflite import require_tflite

        require_tflite()
    arch = Arch.load(args.arch, space_shapes(args.space, option=True, used=True))
    space = spaces_of(args.arch, [arch], args.space, option=True, used=True)[arch.space]
    arch = space.validate(arch, source=args.arch)
    cfg = compose(args.overrides)
    if args.supernet:
        cfg.supernet.checkpoint, cfg.supernet.init = args.supernet, "checkpoint"
    if args.init:
        cfg.supernet.init = args.init
    model = subnet_from_config(cfg.supernet, arch, space, seed=cfg.seed)
    recalibrated, data_fits = None, False
    given = any(o.lstrip("+~").startswith(("data=", "data.")) for o in args.overrides)
    if cfg.supernet.init == "checkpoint" and not args.no_recalibrate:
        recalibrated = _recalibrate(model, arch, cfg, given)
        data_fits = recalibrated["recalibrated"]
    elif cfg.supernet.init == "checkpoint" and given:  # not recalibrated, but the manifest says how to feed it
        _fitting_data(model, cfg)
        data_fits = True
    elif given:
        import sys

        print("nasedge: warning: the data overrides are not used: random weights were trained on no data",
              file=sys.stderr)
    out = Path(args.out)
    # written beside the earlier export, which they replace as a whole at the end (its formats not written again
    # too): an interrupted export leaves the earlier one as it was, and a second export into the folder is refused
    with locked_folder(out, "--out"), replacing_pick(out, by_name=False) as staging:
        files = export_subnet(model, arch, formats, staging)
        _write_manifest(staging, arch, cfg, files, recalibrated, data_fits)
    for fmt, path in files.items():
        print(f"{fmt}: {out / path.name}")
    return 0


def _fitting_data(model: Any, cfg: Any) -> Any:
    """The configured data, checked to be data ``model`` was made for (its values valid, as many classes)."""
    from omegaconf import OmegaConf
    from torch import nn

    from nasedge.data import check_num_classes, dataset_classes
    from nasedge.supernet.accuracy import check_classes

    data = OmegaConf.to_object(cfg.data)
    data.check()
    classes = [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features
    found = len(dataset_classes(data))
    check_num_classes(data, found)  # loading the data checks it; the manifest's data need not be loaded
    check_classes(classes, found, cfg.supernet.checkpoint, data.path)
    return data


def _recalibrate(model: Any, arch: Any, cfg: Any, data_given: bool) -> dict[str, Any]:
    """Re-estimate ``model``'s BatchNorm statistics on the configured data; what was done, for the manifest. Data
    the user gave must fit; the configured default may not (another supernet's data): then a warning."""
    import sys

    from nasedge.data import load_evaluation_data
    from nasedge.errors import NasedgeError
    from nasedge.supernet.accuracy import recalibrate_subnet

    try:
        data = _fitting_data(model, cfg)
        images, _ = load_evaluation_data(data, test_images=0)
    except NasedgeError as exc:
        if data_given:
            raise
        print(f"nasedge: warning: BatchNorm not recalibrated ({exc}); the subnet keeps the supernet's statistics, "
              f"which cost it accuracy: pass its training data (data=... or data.path=...), or --no-recalibrate",
              file=sys.stderr)
        return {"recalibrated": False, "why": str(exc)}
    recalibrate_subnet(model.train(), arch, images, data)
    model.eval()
    return {"recalibrated": True, "data": str(data.path), "images": int(images.shape[0]), **data.recalibration_draw()}


def _write_manifest(out: Path, arch: Any, cfg: Any, files: dict, batchnorm: dict | None, data_fits: bool) -> None:
    """``manifest.json``: the arch, the weights' origin, how BatchNorm was set, how to feed the model (the configured
    data's preprocessing where ``data_fits``: it is the supernet's), the files."""
    import datetime
    import json

    from omegaconf import OmegaConf

    from nasedge import __version__
    from nasedge.atomic import atomic_write_text
    from nasedge.export.manifest import file_entries, input_spec
    from nasedge.supernet.families import file_digest

    origin = ({"init": "random", "seed": int(cfg.seed)} if cfg.supernet.init == "random" else
              {"path": str(cfg.supernet.checkpoint), "sha256": file_digest(cfg.supernet.checkpoint)})
    manifest = {
        "nasedge": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "arch": arch.to_dict(), "arch_digest": arch.digest(), "supernet": origin,
        "batchnorm": batchnorm if batchnorm is not None else {"recalibrated": False,
                                                              "why": "--init random" if "init" in origin
                                                              else "--no-recalibrate"},
        "input": input_spec(arch, OmegaConf.to_object(cfg.data) if data_fits else None, random="init" in origin),
        "files": file_entries(files),
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
