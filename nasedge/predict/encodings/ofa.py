"""Encoding of OFA-MobileNetV3 archs: one-hot choices and cost features that transfer across devices.

The cost features describe the work a network does in terms every device pays for: multiply-accumulates
split by kind (pointwise, depthwise per kernel size, squeeze-excite), activation elements written
(memory traffic), the number of layers (kernel launches, framework overhead) per stage, and the
resolution. They are defined the same way for every space of the family, so a model fitted on one
(the public w1.2 ImageNet measurements) can be applied to another (the CIFAR space).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.cost import layer_cost
from nasedge.errors import NasedgeError
from nasedge.predict.encodings.base import LatencyEncoding
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

_STAGE_FEATURES = ("blocks", "pw_macs", "dw3_macs", "dw5_macs", "dw7_macs", "se_macs", "act")
_KERNEL_COLUMN = {3: 2, 5: 3, 7: 4}  # kernel size -> index in _STAGE_FEATURES (other sizes count as 7)
_GLOBAL_FEATURES = ("resolution", "pixels", "stem_macs", "head_macs", "macs", "params", "act", "layers")


class OFAEncoding(LatencyEncoding):
    """Encoding of the archs of one OFA-MobileNetV3 space."""

    family = "ofa"

    def __init__(self, space: OFAMobileNetV3Space):
        self.space = space
        self.name = space.name
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
            record = {"space": self.name, "kernel": record["ks"], "expand": record["e"], "depth": record["d"],
                      "resolution": record["r"]}
        elif isinstance(record, Mapping):
            record = {k: v for k, v in record.items() if k != "arch_id"}
        return self.space.validate(Arch.from_dict(record, source, self.space.shape_of), source)

    def to_record(self, item: Arch) -> dict[str, Any]:
        return item.to_dict()

    def check(self, item: Any) -> Arch:
        if not isinstance(item, Arch):
            raise NasedgeError(f"expected an Arch of space {self.name!r}, got {type(item).__name__}")
        return self.space.validate(item)

    def _encoded(self, items: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """(one-hot rows, feature rows) of ``items``; the archs not seen before are encoded together."""
        n = len(items)
        onehot = np.empty((n, self._onehot_width))
        feats = np.empty((n, len(self.feature_names)))
        missing = []
        for i, arch in enumerate(items):
            hit = self._rows.get(id(arch))
            if hit is not None and hit[0]() is arch:
                onehot[i], feats[i] = hit[1], hit[2]
            else:
                missing.append(i)
        if missing:
            new_onehot, new_feats = self._encode([self.check(items[i]) for i in missing])
            onehot[missing], feats[missing] = new_onehot, new_feats
            for j, i in enumerate(missing):
                arch, key = items[i], id(items[i])
                forget = lambda _, k=key, rows=self._rows: rows.pop(k, None)  # noqa: E731  (the arch was freed)
                self._rows[key] = (weakref.ref(arch, forget), new_onehot[j], new_feats[j])
        return onehot, feats

    def onehot(self, items: Sequence[Arch]) -> np.ndarray:
        return self._encoded(items)[0]

    def features(self, items: Sequence[Arch]) -> np.ndarray:
        return self._encoded(items)[1]

    @property
    def _onehot_width(self) -> int:
        sp = self.space
        return sp.num_slots * (len(sp.kernel_choices) + len(sp.expand_choices)) + \
            sp.num_stages * len(sp.depth_choices) + 1

    def _encode(self, archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Both encodings of validated canonical archs, as array lookups (no Python loop over blocks)."""
        sp = self.space
        nk, ne, nd = len(sp.kernel_choices), len(sp.expand_choices), len(sp.depth_choices)
        kernel = np.array([a.kernel for a in archs]).reshape(len(archs), sp.num_slots)
        expand = np.array([a.expand for a in archs]).reshape(len(archs), sp.num_slots)
        depth = np.array([a.depth for a in archs]).reshape(len(archs), sp.num_stages)
        resolution = np.array([a.resolution for a in archs])
        active = kernel != 0  # canonical form: unused slots are 0, every choice is positive
        lookup = self._lookup
        k, e = lookup["kernel"][kernel], lookup["expand"][expand]
        d, r = lookup["depth"][np.arange(sp.num_stages), depth], lookup["resolution"][resolution]
        # one-hot, laid out as OFAMobileNetV3Space.encode(archs, "onehot") (float32 values, as there)
        onehot = np.zeros((len(archs), self._onehot_width))
        rows, slots = np.nonzero(active)
        base = slots * (nk + ne)
        onehot[rows, base + k[rows, slots]] = 1.0
        onehot[rows, base + nk + e[rows, slots]] = 1.0
        stage_cols = sp.num_slots * (nk + ne) + np.arange(sp.num_stages) * nd + d
        onehot[np.arange(len(archs))[:, None], stage_cols] = 1.0
        lo, hi = sp.resolutions[0], sp.resolutions[-1]
        onehot[:, -1] = ((resolution - lo) / (hi - lo)).astype(np.float32) if hi > lo else 0.0
        # features: what every arch of this resolution pays, plus each active block's share (integers:
        # the sums are exact in any order)
        fixed, block = self._cost_tables
        per_block = block[r[:, None], np.arange(sp.num_slots), np.where(active, k, 0), np.where(active, e, 0)]
        feats = fixed[r] + np.einsum("nsf,ns->nf", per_block, active.astype(np.float64))
        return onehot, feats

    @functools.cached_property
    def _lookup(self) -> dict[str, np.ndarray]:
        """Value -> index of the choice, per field (-1 for values that validation already refused); depth per
        stage (``[stage, depth]``: a stage of fixed depth has its one choice at index 0)."""
        sp = self.space
        out = {}
        for field, choices in (("kernel", sp.kernel_choices), ("expand", sp.expand_choices),
                               ("resolution", sp.resolutions)):
            table = np.full(max(choices) + 1, -1, dtype=np.int64)
            table[list(choices)] = np.arange(len(choices))
            out[field] = table
        out["depth"] = np.full((sp.num_stages, sp.max_depth + 1), -1, dtype=np.int64)
        for stage, choices in enumerate(sp.stage_depth_choices):
            out["depth"][stage, list(choices)] = np.arange(len(choices))
        return out

    @functools.cached_property
    def _cost_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``fixed[resolution]`` (the parts every arch has) and ``block[resolution, slot, kernel, expand]``
        (one active block's share): every feature is a sum of these, read from the space's layer walk."""
        sp = self.space
        n_stage = len(_STAGE_FEATURES)
        g = {name: sp.num_stages * n_stage + i for i, name in enumerate(_GLOBAL_FEATURES)}
        fixed = np.zeros((len(sp.resolutions), len(self.feature_names)))
        block = np.zeros((len(sp.resolutions), sp.num_slots, len(sp.kernel_choices), len(sp.expand_choices),
                          len(self.feature_names)))
        k_idx, e_idx = self._lookup["kernel"], self._lookup["expand"]
        for ri, resolution in enumerate(sp.resolutions):
            # integers summed in Python, then stored (exact)
            fixed_sums = dict.fromkeys(("stem_macs", "head_macs", "params", "act", "layers"), 0)
            for options in sp.layer_choices(resolution):
                for layer in options:
                    c = layer_cost(layer)
                    if layer.slot < 0:  # a part every arch has: the stem and first block, or the head
                        fixed_sums["head_macs" if layer.kind == "head" else "stem_macs"] += c.macs
                        fixed_sums["params"] += c.params
                        fixed_sums["act"] += c.activations
                        fixed_sums["layers"] += c.ops
                        continue
                    row = block[ri, layer.slot, k_idx[layer.kernel], e_idx[layer.expand]]
                    stage = layer.stage * n_stage
                    row[stage] = 1
                    row[stage + 1] = c.pointwise_macs
                    row[stage + _KERNEL_COLUMN.get(layer.kernel, 4)] = c.depthwise_macs
                    row[stage + 5] = c.se_macs
                    row[stage + 6] = c.activations
                    row[g["macs"]] = c.macs
                    row[g["params"]] = c.params
                    row[g["act"]] = c.activations
                    row[g["layers"]] = c.ops
            f = fixed[ri]
            f[g["resolution"]], f[g["pixels"]] = resolution, resolution * resolution
            f[g["macs"]] = fixed_sums["stem_macs"] + fixed_sums["head_macs"]
            for name, value in fixed_sums.items():
                f[g[name]] = value
        return fixed, block
