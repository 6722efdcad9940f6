"""Build nasedge/assets/cifar10_ofa_mbv3/eval_data.npz from the packed CIFAR-10 file.

    python experiments/cifar10_ofa/make_embedded_data.py ../shared/datasets/cifar10-jpeg.npz

Train split: the 2,000 images that BatchNorm recalibration uses (recalibration_subset with the
data config's seed), in that order, original JPEG bytes; test split: all 10,000 test images. With
conf/data/cifar10_embedded.yaml (recalibration_seed: null) evaluation on a fresh install sees the
same images in the same batches as evaluation against the full dataset.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from nasedge.data import DataConfig
from nasedge.data.packed_npz import write_packed_npz
from nasedge.resources import assets_path


def main(src: str, out: Path) -> None:
    z = np.load(src)
    cfg = DataConfig()
    n_train = len(z["train_labels"])
    g = torch.Generator().manual_seed(cfg.recalibration_seed)
    idx = torch.randperm(n_train, generator=g)[: cfg.recalibration_images].numpy()  # as recalibration_subset
    def blobs(split, ids):
        off, jpeg = z[f"{split}_offsets"], z[f"{split}_jpeg"]
        return [jpeg[off[i]:off[i + 1]].tobytes() for i in ids]
    test_ids = np.arange(len(z["test_labels"]))
    write_packed_npz(out, [str(c) for c in z["classes"]], (blobs("train", idx), z["train_labels"][idx].tolist()),
                     (blobs("test", test_ids), z["test_labels"].tolist()))
    print(out, out.stat().st_size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("packed", help="the packed CIFAR-10 file, e.g. ../shared/datasets/cifar10-jpeg.npz")
    parser.add_argument("--out", type=Path, default=assets_path() / "cifar10_ofa_mbv3" / "eval_data.npz",
                        help="where to write (default: the shipped asset, which this script exists to rebuild)")
    args = parser.parse_args()
    if not Path(args.packed).is_file():
        parser.error(f"{args.packed}: no such file")
    main(args.packed, args.out)
