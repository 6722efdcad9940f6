"""Encoding of the FBNet space of the public latency benchmark (HELP, HW-NAS-Bench).

Not an :class:`~nasedge.arch.Arch` space: an item is a tuple of 22 op indices into :data:`OPS`. The
macro-architecture (FBNet, Wu et al. 2019; ImageNet input 224): a 3x3 stride-2 stem with 16 channels,
22 searchable layers in stages of (1, 4, 4, 4, 4, 4, 1) layers with (16, 24, 32, 64, 112, 184, 352)
channels and first strides (1, 2, 2, 2, 1, 2, 1), then a 1x1 conv to 1504 channels and the classifier.
``kK_eE`` is an inverted bottleneck with kernel K and expansion E (``_g2``: grouped pointwise convs);
``skip`` is the identity, or a 1x1 conv where the shape changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasedge.errors import NasedgeError, shortened
from nasedge.predict.encodings.base import LatencyEncoding

OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
_STAGES = ((1, 16, 1), (4, 24, 2), (4, 32, 2), (4, 64, 2), (4, 112, 1), (4, 184, 2), (1, 352, 1))
_LAYERS = tuple((c, s if i == 0 else 1, stage) for stage, (n, c, s) in enumerate(_STAGES) for i in range(n))
NUM_LAYERS = len(_LAYERS)  # 22
_STEM, _RES, _LAST, _CLASSES = 16, 224, 1504, 1000
_STAGE_FEATURES = ("blocks", "pw_macs", "dw3_macs", "dw5_macs", "act")


def _op(name: str) -> tuple[int, int, int]:
    """(kernel, expansion, groups) of a block op."""
    k, e = name.split("_")[:2]
    return int(k[1:]), int(e[1:]), 2 if name.endswith("_g2") else 1


class FBNetEncoding(LatencyEncoding):
    name = "fbnet"
    family = "fbnet"

    @property
    def feature_names(self) -> tuple[str, ...]:
        stage = tuple(f"s{s}_{f}" for s in range(len(_STAGES)) for f in _STAGE_FEATURES)
        ops = tuple(f"n_{op}" for op in OPS)
        return stage + ops + ("macs", "params", "act", "layers")

    def parse(self, record: Mapping[str, Any], source: str | None = None) -> tuple[int, ...]:
        item = self.check(self._record(record, "ops", ("arch_str",), f"{NUM_LAYERS} op indices", source), source)
        # HELP's records carry the op names too, as arch_str: names that are not those of ops would leave it unclear
        # which arch was meant
        names = [OPS[op] for op in item]
        if "arch_str" in record and record["arch_str"] != names:
            where = f"{source}: " if source else ""
            raise NasedgeError(f"{where}field 'arch_str': value {shortened(repr(record['arch_str']), 80)} is not the "
                               f"op names of ops; expected {names} (or no arch_str)")
        return item

    def to_record(self, item: tuple[int, ...]) -> dict[str, Any]:
        return {"ops": list(item)}

    def check(self, item: Any, source: str | None = None) -> tuple[int, ...]:
        where = f"{source}: " if source else ""
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != NUM_LAYERS:
            raise NasedgeError(f"{where}field 'ops': value {item!r} is not valid; "
                               f"expected {NUM_LAYERS} op indices")
        for i, v in enumerate(item):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(OPS):
                raise NasedgeError(f"{where}field 'ops[{i}]': value {v!r} is not valid; "
                                   f"expected 0..{len(OPS) - 1}")
        return tuple(int(v) for v in item)

    def onehot(self, items: Sequence[tuple[int, ...]]) -> np.ndarray:
        idx = np.array([self.check(x) for x in items], dtype=np.int64).reshape(len(items), NUM_LAYERS)
        out = np.zeros((len(items), NUM_LAYERS, len(OPS)))
        np.put_along_axis(out, idx[:, :, None], 1.0, axis=2)
        return out.reshape(len(items), -1)

    def features(self, items: Sequence[tuple[int, ...]]) -> np.ndarray:
        return np.array([self._features(self.check(x)) for x in items], dtype=np.float64).reshape(
            len(items), len(self.feature_names))

    def _features(self, ops: tuple[int, ...]) -> list[float]:
        stages = np.zeros((len(_STAGES), len(_STAGE_FEATURES)))
        counts = np.zeros(len(OPS))
        size = _RES // 2
        macs = 3 * _STEM * 9 * size * size
        params, act, layers, cin = 3 * _STEM * 9, _STEM * size * size, 1, _STEM
        for (cout, stride, stage), op in zip(_LAYERS, ops):
            row, name = stages[stage], OPS[op]
            counts[op] += 1
            out = (size - 1) // stride + 1
            if name == "skip":
                if stride != 1 or cin != cout:  # a 1x1 conv adapts the shape
                    row[1] += cin * cout * out * out
                    params += cin * cout
                    row[4] += cout * out * out
                    layers += 1
            else:
                k, e, g = _op(name)
                hidden = cin * e
                row[0] += 1
                row[1] += (cin * hidden * size * size + hidden * cout * out * out) / g
                row[2 if k == 3 else 3] += hidden * k * k * out * out
                params += (cin * hidden + hidden * cout) / g + hidden * k * k
                row[4] += hidden * size * size + hidden * out * out + cout * out * out
                layers += 3
            cin, size = cout, out
        head = cin * _LAST * size * size + _LAST * _CLASSES
        macs += head + stages[:, 1:4].sum()
        params += cin * _LAST + _LAST * _CLASSES
        act += stages[:, 4].sum() + _LAST * size * size
        return [*stages.ravel().tolist(), *counts.tolist(), macs, params, act, layers + 2]
