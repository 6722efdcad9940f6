"""GPU-side batch augmentation: crop/flip and Cutout are exact, seeded and shape-preserving."""

from __future__ import annotations

import torch

from nasedge.data.augment import cutout, random_crop_flip


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.ones(200, 3, 32, 32)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(1).sum((1, 2))          # zeroed pixels per image, same in every channel
    assert ((out == 0) == (out == 0).all(1, keepdim=True)).all()
    assert zeros.max() == 16 * 16 and zeros.min() >= 8 * 8   # centre anywhere: clipped at most to a quarter
    assert (zeros == 16 * 16).any() and (zeros < 16 * 16).any()
    assert ((out == 1) | (out == 0)).all()


def test_cutout_is_seeded_and_zero_size_is_identity():
    x = torch.randn(8, 3, 24, 24)
    a = cutout(x, 8, torch.Generator().manual_seed(3))
    b = cutout(x, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, cutout(x, 8, torch.Generator().manual_seed(4)))
    assert cutout(x, 0, torch.Generator()) is x


def test_random_crop_flip_keeps_pixels_and_shape():
    images = torch.randint(1, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_flip(images, 4, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    # every nonzero pixel comes from the image (zeros are the padding)
    for i in range(16):
        assert set(out[i][out[i] > 0].tolist()) <= set(images[i].flatten().tolist())
