"""What a manifest says of the input: the preprocessing nasedge applies in evaluation, step by step."""

from __future__ import annotations

from dataclasses import replace

from nasedge.data import DataConfig
from nasedge.export.manifest import input_spec
from nasedge.spaces import get_space


def test_the_input_is_said_resized_only_where_evaluation_resizes_it():
    # "resized to 32 px" was said of CIFAR images stored at 32 px and fed as they are
    space = get_space("ofa_mbv3_cifar")
    full, small = (replace(space.sample_many(1, 0)[0], resolution=r) for r in (32, 24))
    data = DataConfig(image_size=32, eval_crop=1.0)
    assert input_spec(full, data)["preprocess"].endswith("; already 32 px, not resized")
    assert input_spec(small, data)["preprocess"].endswith("; resized to 24 px, bilinear with antialiasing "
                                                          "(torch.nn.functional.interpolate, antialias=True, "
                                                          "align_corners=False)")
    cropped = DataConfig(image_size=32, eval_crop=0.75)  # the central 24 px of each side: already the arch's
    assert input_spec(small, cropped)["preprocess"].endswith("; already 24 px, not resized")
    assert "resized to 32 px" in input_spec(full, cropped)["preprocess"]
