"""Meta-train the ``meta`` latency predictor of one space family and write it to latency_predictors/meta/.

    python experiments/latency_predictors/train_meta.py --data ../shared/datasets/latency/help/ofa \
        [--data DIR ...] [--out latency_predictors/meta/ofa.npz] [--exclude DEV,...]

Every device column of every ``--data`` directory becomes a source device (measurements of several
directories are joined on arch identity, so our own measured datasets add devices to the public ones).
The fit is closed-form (one ridge head per device, seconds on a CPU); the output is written atomically
and skipped when it already holds a model trained on the same inputs (rerun with --force).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from nasedge.predict.dataset import load_dataset
from nasedge.predict.meta import MetaModel, meta_train

ROOT = Path(__file__).resolve().parents[2]

FAMILY_SPACE = {"ofa": "ofa_mbv3_w1.2"}  # the space whose model is the family's default (public OFA data)


def _inputs_digest(ds, devices) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([ds.encoding.name, list(devices)]).encode())
    h.update(np.ascontiguousarray(ds.latency[:, [ds.device_index(d) for d in devices]]).tobytes())
    h.update("\n".join(ds.encoding.key(x) for x in ds.items).encode())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True, help="latency dataset directory (repeatable)")
    ap.add_argument("--space", default=None, help="space of the archs (default: detected)")
    ap.add_argument("--exclude", default="", help="comma-separated devices to leave out")
    ap.add_argument("--out", default=None, help="output .npz (default latency_predictors/meta/<family>.npz for "
                    "the space of the public data of the family, <space>.npz for another space)")
    ap.add_argument("--force", action="store_true", help="retrain even if the output is up to date")
    args = ap.parse_args(argv)

    from rich.progress import Progress

    t0 = time.time()
    ds = load_dataset(args.data, args.space)
    exclude = {d for d in args.exclude.split(",") if d}
    devices = [d for d in ds.devices if d not in exclude]
    stem = ds.encoding.family if ds.encoding.name == FAMILY_SPACE.get(ds.encoding.family, ds.encoding.family) \
        else ds.encoding.name
    out = Path(args.out) if args.out else ROOT / "latency_predictors" / "meta" / f"{stem}.npz"
    digest = _inputs_digest(ds, devices)
    if out.with_suffix(".json").is_file() and not args.force:
        try:
            done = json.loads(out.with_suffix(".json").read_text()).get("info", {}).get("inputs") == digest
        except json.JSONDecodeError:
            done = False
        if done:
            print(f"{out}: up to date (inputs {digest}); --force to retrain")
            return 0
    rows = np.isfinite(ds.latency[:, [ds.device_index(d) for d in devices]]).any(axis=1)
    items = [x for x, keep in zip(ds.items, rows) if keep]
    info = {"inputs": digest, "space": ds.encoding.name, "datasets": [Path(d).name for d in args.data],
            "archs": int(rows.sum()), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with Progress() as progress:
        task = progress.add_task(f"meta-training {ds.encoding.family} on {len(devices)} devices", total=2)
        lat = ds.latency[np.ix_(np.flatnonzero(rows), [ds.device_index(d) for d in devices])]
        progress.advance(task)
        model = meta_train(ds.encoding, items, lat, devices, info)
        progress.advance(task)
    model.save(out)
    check = MetaModel.load(out)
    assert check.digest == model.digest
    size = out.stat().st_size + out.with_suffix(".json").stat().st_size
    print(f"{out}: {len(devices)} devices, {info['archs']} archs, {size / 1024:.1f} KiB, "
          f"digest {model.digest}, {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    from nasedge.errors import NasedgeError

    try:
        sys.exit(main())
    except NasedgeError as exc:
        sys.exit(f"error: {exc}")
