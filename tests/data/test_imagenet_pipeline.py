"""The ImageNet-style pipeline for users' ImageFolders: aspect-preserving storage, random resized crops at the
batch's resolution, centre-crop evaluation, the held-out split named val/, class counts discovered and checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from nasedge.data import DataConfig, dataset_classes, load_dataset, recalibration_subset
from nasedge.data.augment import random_resized_crop_flip, train_batch
from nasedge.data.decode import decode_images
from nasedge.errors import NasedgeError
from nasedge.supernet.accuracy import preprocess
from tests.synthetic_data import write_shapes_folder


def _folder_cfg(path, **kw) -> DataConfig:
    return DataConfig(kind="image_folder", path=str(path), image_size=64, train_crop="random_resized",
                      eval_crop=0.875, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), **kw)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes_folder(tmp_path_factory.mktemp("shapes"), per_class=2, test_per_class=1, size=56)


def test_folder_classes_are_discovered_and_checked(shapes):
    cfg = _folder_cfg(shapes)
    assert len(dataset_classes(cfg)) == 7
    train, test = load_dataset(cfg)
    assert train.images.shape == (14, 3, 64, 64) and test.images.shape == (7, 3, 64, 64)  # val/ is the held-out split
    assert train.classes == test.classes and sorted(train.labels.unique().tolist()) == list(range(7))
    with pytest.raises(NasedgeError, match="data.num_classes: value 10 does not match the 7 classes"):
        load_dataset(_folder_cfg(shapes, num_classes=10))


def test_storage_keeps_the_aspect_ratio():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255  # a white centre square of a wide image: what a centre crop keeps
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    cropped = decode_images([buf.getvalue()], 20, "center_crop", "cpu")[0]
    stretched = decode_images([buf.getvalue()], 20, "stretch", "cpu")[0]
    assert cropped.min() > 200 and cropped[..., 1:-1].min() == 255  # all of it inside the white square
    assert stretched[..., 0].max() < 30 and stretched[..., 10].min() > 240


def test_random_resized_crops_are_seeded_shard_exact_and_vary():
    x = torch.rand(8, 3, 48, 48)
    a = random_resized_crop_flip(x, 32, (0.08, 1.0), torch.Generator().manual_seed(1))
    b = random_resized_crop_flip(x, 32, (0.08, 1.0), torch.Generator().manual_seed(1))
    shard = random_resized_crop_flip(x[4:], 32, (0.08, 1.0), torch.Generator().manual_seed(1), slice(4, 8), 8)
    assert a.shape == (8, 3, 32, 32) and torch.equal(a, b) and torch.allclose(shard, a[4:])
    c = random_resized_crop_flip(x, 32, (0.08, 1.0), torch.Generator().manual_seed(2))
    assert not torch.allclose(a, c)
    # the whole image (scale 1, ratio 1) resized: the mean colour is kept
    whole = random_resized_crop_flip(x, 24, (1.0, 1.0), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    assert torch.allclose(whole.mean((2, 3)), x.mean((2, 3)), atol=0.02)


def test_batches_at_each_resolution_for_training_evaluation_and_recalibration(shapes):
    cfg = _folder_cfg(shapes, recalibration_images=8)
    train, test = load_dataset(cfg)
    for resolution in (32, 48):
        x = train_batch(train.images, cfg, resolution, torch.Generator().manual_seed(0))
        assert x.shape == (14, 3, resolution, resolution) and x.dtype == torch.float32
        assert preprocess(test.images, cfg, resolution).shape == (7, 3, resolution, resolution)
    recal = recalibration_subset(train, cfg)
    assert recal.shape == (8, 3, 64, 64) and recal.dtype == torch.uint8
    assert not torch.equal(recal, train.images[:8])  # augmented crops, not the stored images
