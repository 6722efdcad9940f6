"""What a manifest says of exported model files: each file's name and SHA-256, and how to feed the model (its input
tensor, normalisation and preprocessing); ``nasedge export`` and ``nasedge specialize`` write the same entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from nasedge.arch import Arch
from nasedge.data import DataConfig
from nasedge.supernet.families import file_digest


def file_entries(files: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """Format -> ``{"name", "sha256"}`` of each written file (``name``: relative to the manifest's folder)."""
    return {fmt: {"name": Path(p).name, "sha256": file_digest(p)} for fmt, p in files.items()}


def input_spec(arch: Arch, data: Optional[DataConfig | Mapping[str, Any]], *, random: bool = False,
               to_record: str = "export with data=... of that data") -> dict[str, Any]:
    """How to feed the model: its input tensor and, where ``data`` is known to be the supernet's (the subnet was
    recalibrated or evaluated on it, or the user gave it; ``None``: not known), the preprocessing nasedge applies in
    evaluation; else that no data here says (``to_record``: how to record it), or, ``random`` weights, that none
    trained them."""
    shape = {"shape": [1, 3, arch.resolution, arch.resolution], "layout": "NCHW", "dtype": "float32"}
    if random:
        return {**shape, "preprocess": "random weights, trained on no data: that of the data it will be trained on"}
    if data is None:
        return {**shape, "preprocess": f"that of the data the supernet was trained on (not known here: {to_record} "
                                       f"to record it)"}
    data = data if isinstance(data, DataConfig) else DataConfig(**data)
    stored = "shorter side, centre crop" if data.stored_fit() == "center_crop" else "stretched"
    crop = ("no crop (the whole image)" if data.eval_crop >= 1 else  # as nasedge.data.augment.center_crop
            f"the central {100 * data.eval_crop:g} % of each side kept")
    resize = (f"already {arch.resolution} px, not resized" if data.eval_crop_size() == arch.resolution else
              f"resized to {arch.resolution} px, bilinear with antialiasing (torch.nn.functional.interpolate, "
              f"antialias=True, align_corners=False)")
    return {**shape, "mean": list(data.mean), "std": list(data.std), "preprocess": (
        f"RGB images stored at {data.image_size} px ({stored}); {crop}; values scaled to 0-1, then (x - mean) / std; "
        f"{resize}")}
