"""Once-for-All's published accuracy predictor (``acc_predictor.pth`` of OFA's tutorial) as an accuracy predictor.

An MLP (128 -> 400 -> 400 -> 400 -> 1, ReLU between) over OFA's arch encoding: one-hot kernel size
(3/5/7) and one-hot expand ratio (3/4/6) for each of the 20 block slots, all zero for a slot beyond
its stage's depth, then one of 8 resolution buckets ``(r - 112) // 16``. OFA trained it on ImageNet
top-1 of subnets of its w1.2 supernet; it outputs a fraction, reported here in percent.

Read OFA's file (a bare state dict of the ``nn.Sequential``, or ``{"state_dict": ...}``) with
:meth:`OFAAccuracyPredictor.from_ofa_file`; :meth:`save` writes nasedge's JSON form of the same weights
(exact float32) so that it can sit beside an imported supernet as ``accuracy_predictor.json``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError
from nasedge.predict.accuracy import BaseAccuracyPredictor
from nasedge.spaces import SearchSpace, get_space

FORMAT = "nasedge-accuracy-predictor/ofa-mlp/1"
DEFAULT_SPACE = "ofa_mbv3_w1.2"  # the supernet OFA trained its predictor on
KERNELS, EXPANDS, SLOTS, RESOLUTION_BUCKETS = (3, 5, 7), (3, 4, 6), 20, 8
SHAPES = {"0.weight": (400, 128), "0.bias": (400,), "2.weight": (400, 400), "2.bias": (400,),
          "4.weight": (400, 400), "4.bias": (400,), "6.weight": (1, 400), "6.bias": (1,)}


class OFAAccuracyPredictor(BaseAccuracyPredictor):
    """OFA's MLP accuracy predictor with weights ``tensors`` (names and shapes as in :data:`SHAPES`)."""

    def __init__(self, space: SearchSpace, tensors: Mapping[str, np.ndarray], meta: dict | None = None,
                 source: str = "OFA accuracy predictor"):
        _check_space(space, source)
        for name, shape in SHAPES.items():
            if name not in tensors:
                raise NasedgeError(f"{source}: not OFA's accuracy predictor: missing tensor {name}")
            if tuple(tensors[name].shape) != shape:
                raise NasedgeError(f"{source}: not OFA's accuracy predictor: {name} has shape "
                                   f"{tuple(tensors[name].shape)}, expected {shape}")
            if not np.all(np.isfinite(tensors[name])):  # it would predict NaN for every arch, and pass every check
                raise NasedgeError(f"{source}: OFA's accuracy predictor: tensor {name} holds NaN or infinite values")
        extra = sorted(set(tensors) - set(SHAPES))
        if extra:
            raise NasedgeError(f"{source}: not OFA's accuracy predictor: unexpected tensor {extra[0]}")
        self.space, self.meta = space, dict(meta or {})
        self.tensors = {k: np.ascontiguousarray(tensors[k], dtype=np.float32) for k in SHAPES}

    def features(self, archs: Sequence[Arch]) -> np.ndarray:
        """OFA's 128-d encoding of ``archs`` (its tutorial's ``spec2feats``)."""
        archs = [self.space.validate(a) for a in archs]  # canonical: unused slots are 0, matching no choice
        kernel = np.array([a.kernel for a in archs], dtype=np.int64).reshape(len(archs), SLOTS)
        expand = np.array([a.expand for a in archs], dtype=np.int64).reshape(len(archs), SLOTS)
        bucket = (np.array([a.resolution for a in archs], dtype=np.int64) - 112) // 16
        k_onehot = (kernel[:, :, None] == np.array(KERNELS)).reshape(len(archs), -1)
        e_onehot = (expand[:, :, None] == np.array(EXPANDS)).reshape(len(archs), -1)
        r_onehot = bucket[:, None] == np.arange(RESOLUTION_BUCKETS)
        return np.concatenate([k_onehot, e_onehot, r_onehot], axis=1).astype(np.float32)

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if len(archs) == 0:
            return np.zeros(0)
        t, h = self.tensors, self.features(archs)
        for layer in ("0", "2", "4"):
            h = np.maximum(h @ t[f"{layer}.weight"].T + t[f"{layer}.bias"], 0)
        fraction = h @ t["6.weight"].T + t["6.bias"]
        return 100.0 * fraction[:, 0].astype(np.float64)

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        atomic_write_text(path, json.dumps({
            "format": FORMAT, "space": self.space.name, "meta": meta or self.meta,
            "tensors": {k: {"shape": list(v.shape), "float32": _base64(v)} for k, v in self.tensors.items()},
        }))

    @classmethod
    def from_state(cls, state: Mapping[str, Any], source: str) -> OFAAccuracyPredictor:
        """From the JSON object :meth:`save` writes."""
        try:
            tensors = {k: np.frombuffer(base64.b64decode(v["float32"]), dtype="<f4").reshape(v["shape"])
                       for k, v in state["tensors"].items()}
            space = get_space(state["space"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NasedgeError(f"{source}: not a readable OFA accuracy predictor "
                               f"({type(exc).__name__}: {exc})") from None
        return cls(space, tensors, state.get("meta"), source)

    @classmethod
    def from_ofa_file(cls, path: str | Path, space: str = DEFAULT_SPACE) -> OFAAccuracyPredictor:
        """Read OFA's own file (``acc_predictor.pth``); ``space``: the supernet it was trained for."""
        import torch

        from nasedge.supernet import file_digest
        from nasedge.supernet.ofa_checkpoint import load_ofa_file

        path = Path(path)
        state = load_ofa_file(path, "OFA accuracy predictor")
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise NasedgeError(f"{path}: not OFA's accuracy predictor (no state dict of tensors)")
        tensors = {str(k): v.detach().float().numpy() for k, v in state.items()}
        meta = {"imported_from": "once-for-all", "source": path.name, "source_sha256": file_digest(path)}
        return cls(get_space(space), tensors, meta, str(path))


def _base64(tensor: np.ndarray) -> str:
    return base64.b64encode(tensor.astype("<f4").tobytes()).decode()


def _check_space(space: SearchSpace, source: str) -> None:
    """OFA's encoding fits only spaces with its slots, choices and resolution range."""
    ok = (getattr(space, "family", None) == "ofa_mbv3" and space.num_slots == SLOTS
          and set(space.kernel_choices) <= set(KERNELS) and set(space.expand_choices) <= set(EXPANDS)
          and 112 <= min(space.resolutions) and max(space.resolutions) < 112 + 16 * RESOLUTION_BUCKETS)
    if not ok:
        raise NasedgeError(f"{source}: OFA's accuracy predictor does not fit search space {space.name!r} "
                           f"(needs 20 slots, kernels 3/5/7, expands 3/4/6, resolutions 112-239)")
