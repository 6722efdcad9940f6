"""Encoding of OFA-MobileNetV3 archs: one-hot choices and cost features that transfer across devices.

The cost features describe the work a network does in terms every device pays for: multiply-accumulates
split by kind (pointwise, depthwise per kernel size, squeeze-excite), activation elements written
(memory traffic), the number of layers (kernel launches, framework overhead) per stage, and the
resolution. They are defined the same way for every space of the family, so a model fitted on one
(the public w1.2 ImageNet measurements) can be applied to another (the CIFAR space).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.predict.encodings.base import LatencyEncoding
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

_STAGE_FEATURES = ("blocks", "pw_macs", "dw3_macs", "dw5_macs", "dw7_macs", "se_macs", "act")
_KERNEL_COLUMN = {3: 2, 5: 3, 7: 4}  # kernel size -> index in _STAGE_FEATURES (other sizes count as 7)
_GLOBAL_FEATURES = ("resolution", "pixels", "stem_macs", "head_macs", "macs", "params", "act", "layers")


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


class OFAEncoding(LatencyEncoding):
    """Encoding of the archs of one OFA-MobileNetV3 space."""

    family = "ofa"

    def __init__(self, space: OFAMobileNetV3Space):
        self.space = space
        self.name = space.name
        self._slots = space.slots()
        # id(arch) -> (weak reference, one-hot row, feature row): validating and encoding an arch costs
        # ~0.3 ms, and search and evaluation encode the same Arch objects many times
        self._rows: dict[int, tuple[weakref.ref, np.ndarray, np.ndarray]] = {}

    @property
    def feature_names(self) -> tuple[str, ...]:
        stage = tuple(f"s{s}_{f}" for s in range(self.space.num_stages) for f in _STAGE_FEATURES)
        return stage + _GLOBAL_FEATURES

    def parse(self, record: Mapping[str, Any], source: str | None = None) -> Arch:
        """Accept a canonical arch dict, or the HELP benchmark's form (``ks``, ``e``, ``d``, ``r``)."""
        if isinstance(record, Mapping) and {"ks", "e", "d", "r"} <= set(record):
            arch = Arch(self.name, record["ks"], record["e"], record["d"], record["r"])
        else:
            arch = Arch.from_dict({k: v for k, v in record.items() if k != "arch_id"}, source)
        return self.space.validate(arch, source)

    def to_record(self, item: Arch) -> dict[str, Any]:
        return item.to_dict()

    def check(self, item: Any) -> Arch:
        if not isinstance(item, Arch):
            raise NasedgeError(f"expected an Arch of space {self.name!r}, got {type(item).__name__}")
        return self.space.validate(item)

    def _row(self, arch: Any) -> tuple[np.ndarray, np.ndarray]:
        hit = self._rows.get(id(arch))
        if hit is not None and hit[0]() is arch:
            return hit[1], hit[2]
        canonical = self.check(arch)
        onehot = self.space.encode([canonical], "onehot")[0].astype(np.float64)
        feats = np.array(self._features(canonical), dtype=np.float64)
        key = id(arch)
        forget = lambda _, k=key, rows=self._rows: rows.pop(k, None)  # noqa: E731  (the arch was freed)
        self._rows[key] = (weakref.ref(arch, forget), onehot, feats)
        return onehot, feats

    def onehot(self, items: Sequence[Arch]) -> np.ndarray:
        width = self.space.encode([self.space.min_arch()], "onehot").shape[1]
        return np.array([self._row(a)[0] for a in items], dtype=np.float64).reshape(len(items), width)

    def features(self, items: Sequence[Arch]) -> np.ndarray:
        return np.array([self._row(a)[1] for a in items], dtype=np.float64).reshape(
            len(items), len(self.feature_names))

    def _features(self, arch: Arch) -> list[float]:
        sp = self.space
        stages = np.zeros((sp.num_stages, len(_STAGE_FEATURES)))
        size = _out(arch.resolution, sp.stem_stride)
        stem_in = arch.resolution
        # stem conv 3x3 and the fixed first block (depthwise 3x3 + pointwise projection)
        stem_macs = 3 * sp.stem_width * 9 * size * size
        params = 3 * sp.stem_width * 9 + 2 * sp.stem_width
        act = sp.stem_width * size * size
        first_out = _out(size, sp.first_block_stride)
        stem_macs += sp.stem_width * 9 * first_out**2 + sp.stem_width * sp.first_block_width * first_out**2
        params += sp.stem_width * 9 + sp.stem_width * sp.first_block_width
        params += 2 * sp.stem_width + 2 * sp.first_block_width
        act += (sp.stem_width + sp.first_block_width) * first_out**2
        size, layers = first_out, 3
        for b in arch.active_blocks():
            s = self._slots[b.slot]
            row = stages[b.stage]
            hidden = sp.hidden_channels(s.in_channels, b.expand)
            out = _out(size, s.stride)
            pw = s.in_channels * hidden * size * size + hidden * s.out_channels * out * out
            dw = hidden * b.kernel * b.kernel * out * out
            row[0] += 1
            row[1] += pw
            row[_KERNEL_COLUMN.get(b.kernel, 4)] += dw
            a = hidden * size * size + hidden * out * out + s.out_channels * out * out
            params_b = s.in_channels * hidden + hidden * b.kernel * b.kernel + hidden * s.out_channels
            params_b += 4 * hidden + 2 * s.out_channels
            layers += 3
            if s.se:
                se = sp.se_channels(hidden)
                row[5] += 2 * hidden * se
                params_b += 2 * hidden * se + hidden + se
                a += hidden * out * out  # the excitation rescales the whole hidden map
                layers += 2
            row[6] += a
            params += params_b
            size = out
        fe, mix, nc = sp.final_expand_width, sp.feature_mix_width, sp.num_classes
        head_macs = sp.stages[-1].width * fe * size * size + fe * mix + mix * nc
        params += sp.stages[-1].width * fe + 2 * fe + fe * mix + mix * nc + nc
        act_total = act + stages[:, 6].sum() + fe * size * size
        layers += 3
        macs = stem_macs + head_macs + stages[:, 1:6].sum()
        glob = [stem_in, stem_in * stem_in, stem_macs, head_macs, macs, params, act_total, layers]
        return [*stages.ravel().tolist(), *glob]
