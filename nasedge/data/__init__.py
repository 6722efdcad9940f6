"""Image classification datasets, decoded once into memory as uint8 tensors.

A registry maps a dataset ``kind`` (``packed_npz``, ``image_folder``) to a loader; the ``data``
config group in ``conf/data/`` selects one. Nothing is ever downloaded: paths point at files the
user has. Decoding happens once, on the GPU where there is one (:mod:`nasedge.data.decode`), and
augmentation runs on whole batches on the training device (:mod:`nasedge.data.augment`: CIFAR-style
padded crops or ImageNet-style random resized crops), so that on a GPU the loader is never the bottleneck.

Importing the package does not import torch (1-2 s), so that composing a configuration and checking its
values stays fast: the loaders import it on first use (PEP 562).
"""

from __future__ import annotations

from nasedge.data.config import DataConfig
from nasedge.lazy import lazy_names

__all__ = ["DataConfig", "ImageDataset", "load_dataset", "load_evaluation_data", "dataset_classes",
           "check_num_classes", "recalibration_subset", "shard_rows", "data_identity", "data_difference"]

_LOADING = ("load_dataset", "load_evaluation_data", "dataset_classes", "check_num_classes", "recalibration_subset",
            "shard_rows", "data_identity", "data_difference")
__getattr__, __dir__ = lazy_names(__name__, {"ImageDataset": "nasedge.data.image_dataset",
                                             **dict.fromkeys(_LOADING, "nasedge.data.loading")}, globals(), __all__)
