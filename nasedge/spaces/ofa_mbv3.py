"""The OFA-MobileNetV3 family of search spaces (Cai et al., "Once-for-All", ICLR 2020).

Network layout, top to bottom: a 3x3 stem conv (BN, h-swish); a fixed first block (depthwise 3x3,
expand 1, ReLU, residual); ``len(stages)`` elastic stages of up to ``max(depth)`` inverted-bottleneck
blocks (1x1 expand, KxK depthwise, optional squeeze-excite, 1x1 project; residual when the shape
allows); a 1x1 conv to ``final_expand_width`` (BN, h-swish); global pooling; a 1x1 conv to
``feature_mix_width`` (h-swish, no BN); dropout; the classifier.

Elastic per block: kernel size and expand ratio; per stage: depth (the first ``d`` blocks); per
arch: input resolution. A block's hidden width is ``make_divisible(round(in * expand), 8)``, the
squeeze-excite width ``make_divisible(hidden // 4, 8)``, exactly as in the published OFA code.

Geometry (:meth:`OFAMobileNetV3Space.layers`): only the first block of a stage strides, and every stage
keeps at least one block, so a slot's input size depends on the resolution alone; the walk is done
once per resolution (:meth:`~OFAMobileNetV3Space.layer_choices`) and an arch picks its layers from it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from nasedge.arch import UNUSED, Arch, wrong_length
from nasedge.errors import ArchError, NasedgeError, is_real
from nasedge.spaces.base import LAYER_KINDS, Layer, RngLike, SearchSpace, as_rng

ACTIVATIONS = ("relu", "h_swish")
ENCODINGS = ("onehot", "ordinal")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, never going more than 10 % below it (OFA's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _out(size: int, stride: int) -> int:
    """Output size of a conv with an odd kernel and padding ``kernel // 2``."""
    return (size - 1) // stride + 1


@dataclass(frozen=True)
class Stage:
    """One stage: output width, stride of its first block, activation, squeeze-excite, and ``depth``: None when
    the arch chooses it (the space's depth choices), else the stage's fixed number of blocks."""

    width: int
    stride: int
    act: str
    se: bool
    depth: int | None = None


class BlockSlot(NamedTuple):
    """A block position of the supernet with everything that does not depend on the arch."""

    stage: int
    index: int
    slot: int
    in_channels: int
    out_channels: int
    stride: int
    act: str
    se: bool

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


class _Reader:
    """Reads fields of a YAML mapping, raising errors that name the file and the field path."""

    def __init__(self, data: Any, source: str, path: str = ""):
        self.source, self.path = source, path
        if not isinstance(data, Mapping):
            self.fail(data, "a mapping")
        self.data = data

    def fail(self, value: Any, expected: str, key: str | None = None) -> None:
        where = ".".join(p for p in (self.path, key) if p) or "<root>"
        raise NasedgeError(f"{self.source}: field '{where}': value {value!r} is not valid; expected {expected}")

    def get(self, key: str, default: Any = dataclasses.MISSING) -> Any:
        if key not in self.data:
            if default is dataclasses.MISSING:
                where = ".".join(p for p in (self.path, key) if p)
                raise NasedgeError(f"{self.source}: field '{where}': missing (the field is required)")
            return default
        return self.data[key]

    def int(self, key: str, default: Any = dataclasses.MISSING, minimum: int = 1) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.fail(v, f"an integer >= {minimum}", key)
        return v

    def choice(self, key: str, options: Sequence[str], default: Any = dataclasses.MISSING) -> str:
        v = self.get(key, default)
        if v not in options:
            self.fail(v, "one of " + ", ".join(options), key)
        return v

    def bool(self, key: str, default: Any = dataclasses.MISSING) -> bool:
        v = self.get(key, default)
        if not isinstance(v, bool):
            self.fail(v, "true or false", key)
        return v

    def ints(self, key: str) -> tuple[int, ...]:
        v = self.get(key)
        if not isinstance(v, list) or not v or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in v):
            self.fail(v, "a non-empty list of positive integers", key)
        if len(set(v)) != len(v):
            self.fail(v, "distinct values", key)
        return tuple(sorted(v))

    def sub(self, key: str) -> _Reader:
        return _Reader(self.get(key), self.source, ".".join(p for p in (self.path, key) if p))


@dataclass(frozen=True, repr=False)
class OFAMobileNetV3Space(SearchSpace):
    """An OFA-MobileNetV3 space. Build it from YAML with :meth:`from_yaml_dict`."""

    name: str
    description: str
    num_classes: int
    stem_width: int
    stem_stride: int
    first_block_width: int
    first_block_stride: int
    stages: tuple[Stage, ...]
    final_expand_width: int
    feature_mix_width: int
    kernel_choices: tuple[int, ...]
    expand_choices: tuple[int, ...]
    depth_choices: tuple[int, ...]
    resolutions: tuple[int, ...]
    dropout: float = 0.1
    bn_eps: float = 1e-5
    family: str = "ofa_mbv3"

    # what the family fixes (another family of OFA networks built on this one sets its own)
    STEM_ACT: ClassVar[str] = "h_swish"
    ACTIVATIONS: ClassVar[tuple[str, ...]] = ACTIVATIONS  # of the stages
    HAS_SE: ClassVar[bool] = True  # stages say whether they squeeze-excite (else none does)
    HAS_FEATURE_MIX: ClassVar[bool] = True  # the head's 1x1 conv after pooling (else none)
    BN_EPS: ClassVar[float] = 1e-5  # OFA's bn_param of the family (the YAML may say otherwise)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_yaml_dict(cls, data: Mapping[str, Any], source: str) -> OFAMobileNetV3Space:
        r = _Reader(data, source)
        stem, first, choices = r.sub("stem"), r.sub("first_block"), r.sub("choices")
        if stem.choice("act", tuple(dict.fromkeys((*cls.ACTIVATIONS, cls.STEM_ACT))), cls.STEM_ACT) != cls.STEM_ACT:
            stem.fail(stem.get("act"), f"{cls.STEM_ACT} (the family's stem activation)", "act")
        raw_stages = r.get("stages")
        if not isinstance(raw_stages, list) or not raw_stages:
            r.fail(raw_stages, "a non-empty list of stages", "stages")
        depth_choices = choices.ints("depth")
        stages = []
        for i, s in enumerate(raw_stages):
            sr = _Reader(s, source, f"stages[{i}]")
            se = sr.bool("se") if cls.HAS_SE else sr.bool("se", False)
            if se and not cls.HAS_SE:
                sr.fail(se, "false (the family has no squeeze-excite)", "se")
            depth = sr.int("depth") if "depth" in sr.data else None
            if depth is not None and depth > max(depth_choices):
                sr.fail(depth, f"at most the largest depth choice ({max(depth_choices)})", "depth")
            stages.append(Stage(sr.int("width"), sr.int("stride"), sr.choice("act", cls.ACTIVATIONS), se, depth))
        if all(s.depth is not None for s in stages):
            r.fail(raw_stages, "at least one stage of elastic depth (no 'depth' field)", "stages")
        res = choices.sub("resolution")
        lo, hi, step = res.int("min"), res.int("max"), res.int("step")
        if hi < lo:
            res.fail(hi, f"max >= min ({lo})", "max")
        kernels = choices.ints("kernel")
        if any(k % 2 == 0 for k in kernels):
            choices.fail(list(kernels), "odd kernel sizes", "kernel")
        dropout = r.get("dropout", 0.1)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            r.fail(dropout, "a number in [0, 1)", "dropout")
        bn_eps = r.get("bn_eps", cls.BN_EPS)
        if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or not 0 < bn_eps < 1:
            r.fail(bn_eps, "a number in (0, 1)", "bn_eps")
        if not cls.HAS_FEATURE_MIX and "feature_mix_width" in r.data:
            r.fail(r.get("feature_mix_width"), "no value (the family's head has no feature-mix conv)",
                   "feature_mix_width")
        return cls(
            name=r.get("name"),
            description=str(r.get("description", "")),
            num_classes=r.int("num_classes"),
            stem_width=stem.int("width"),
            stem_stride=stem.int("stride"),
            first_block_width=first.int("width"),
            first_block_stride=first.int("stride"),
            stages=tuple(stages),
            final_expand_width=r.int("final_expand_width"),
            feature_mix_width=r.int("feature_mix_width") if cls.HAS_FEATURE_MIX else 0,
            kernel_choices=kernels,
            expand_choices=choices.ints("expand"),
            depth_choices=depth_choices,
            resolutions=tuple(range(lo, hi + 1, step)),
            dropout=float(dropout),
            bn_eps=float(bn_eps),
        )

    def restrict(self, **choices: Sequence[int]) -> OFAMobileNetV3Space:
        """Narrow ``kernel``, ``expand``, ``depth`` or ``resolution`` to a subset of the current choices."""
        fields = {"kernel": "kernel_choices", "expand": "expand_choices", "depth": "depth_choices",
                  "resolution": "resolutions"}
        updates = {}
        for key, values in choices.items():
            if key not in fields:
                raise NasedgeError(f"cannot restrict {key!r}; dimensions are {', '.join(fields)}")
            current = getattr(self, fields[key])
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise NasedgeError(f"{key} choices {values!r} are not valid; expected a list such as [3, 5]")
            values = tuple(sorted(set(values)))
            if not values or not set(values) <= set(current):
                raise NasedgeError(f"{key} choices {list(values)} are not a non-empty subset of {list(current)}")
            updates[fields[key]] = values
        if "depth" in choices and max(updates["depth_choices"]) != self.max_depth:
            # The slot layout (max depth per stage) is part of every arch's shape; keep it fixed.
            raise NasedgeError(f"restricted depth choices must keep the maximum {self.max_depth}")
        return dataclasses.replace(self, **updates)

    # --- structure -----------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def max_depth(self) -> int:
        """Block slots per stage in an arch (a stage of fixed depth has fewer blocks; its other slots stay unused)."""
        return max(self.depth_choices)

    @property
    def num_slots(self) -> int:
        return self.num_stages * self.max_depth

    @property
    def arch_shape(self) -> tuple[int, int]:
        return self.num_stages, self.max_depth

    @functools.cached_property
    def stage_depth_choices(self) -> tuple[tuple[int, ...], ...]:
        """The depths each stage may have: the space's depth choices, or a stage's fixed depth alone."""
        return tuple(self.depth_choices if s.depth is None else (s.depth,) for s in self.stages)

    def slots(self) -> list[BlockSlot]:
        """The block positions of the supernet (the slots some arch uses), in network order."""
        out, in_ch = [], self.first_block_width
        for s, (stage, depths) in enumerate(zip(self.stages, self.stage_depth_choices)):
            for i in range(max(depths)):
                out.append(BlockSlot(s, i, s * self.max_depth + i, in_ch, stage.width,
                                     stage.stride if i == 0 else 1, stage.act, stage.se))
                in_ch = stage.width
        return out

    @staticmethod
    def hidden_channels(in_channels: int, expand: int) -> int:
        return make_divisible(round(in_channels * expand), 8)

    @staticmethod
    def se_channels(hidden: int) -> int:
        return make_divisible(hidden // 4, 8)

    # --- geometry ------------------------------------------------------------------------
    def _stem(self, size: int) -> Layer:
        return Layer("stem", size, _out(size, self.stem_stride), 3, self.stem_width, 3, self.stem_stride,
                     self.STEM_ACT)

    def _first_block(self, size: int) -> Layer:
        # depthwise 3x3 with expand ratio 1 (no expand conv), ReLU, no squeeze-excite
        return Layer("first_block", size, _out(size, self.first_block_stride), self.stem_width,
                     self.first_block_width, 3, self.first_block_stride, "relu")

    def _block(self, slot: BlockSlot, kernel: int, expand: int, size: int) -> Layer:
        hidden = self.hidden_channels(slot.in_channels, expand)
        return Layer("block", size, _out(size, slot.stride), slot.in_channels, slot.out_channels, kernel,
                     slot.stride, slot.act, hidden, self.se_channels(hidden) if slot.se else 0,
                     stage=slot.stage, slot=slot.slot, first=slot.index == 0, expand=expand)

    def _head(self, size: int) -> Layer:
        return Layer("head", size, 1, self.stages[-1].width, self.num_classes, 1, 1, "h_swish",
                     self.final_expand_width, mix=self.feature_mix_width)

    def _walk(self, resolution: int) -> tuple[tuple[Layer, ...], ...]:
        positions: list[tuple[Layer, ...]] = [(self._stem(resolution),)]
        positions.append((self._first_block(positions[-1][0].output_size),))
        size = positions[-1][0].output_size
        for slot in self.slots():
            positions.append(tuple(self._block(slot, k, e, size)
                                   for k in self.kernel_choices for e in self.expand_choices))
            size = positions[-1][0].output_size  # blocks after a stage's first keep the size: skipping them is the same
        positions.append((self._head(size),))
        return tuple(positions)

    @functools.cached_property
    def _walks(self) -> dict[int, tuple[tuple[Layer, ...], ...]]:
        return {r: self._walk(r) for r in self.resolutions}

    def layer_choices(self, resolution: int) -> tuple[tuple[Layer, ...], ...]:
        """Per position (stem, first block, each slot of :meth:`slots`, head) its layer options at ``resolution``;
        a slot's options are its (kernel, expand) choices, kernel-major."""
        walk = self._walks.get(resolution)
        return walk if walk is not None else self._walk(resolution)

    @functools.cached_property
    def _choice_index(self) -> dict[tuple[int, int], int]:
        ne = len(self.expand_choices)
        return {(k, e): ki * ne + ei for ki, k in enumerate(self.kernel_choices)
                for ei, e in enumerate(self.expand_choices)}

    @functools.cached_property
    def _position(self) -> dict[int, int]:
        """Slot -> its position in a walk (after the stem and the first block)."""
        return {slot.slot: 2 + i for i, slot in enumerate(self.slots())}

    def layers(self, arch: Arch) -> tuple[Layer, ...]:
        arch = self.validate(arch)
        walk, index, position = self.layer_choices(arch.resolution), self._choice_index, self._position
        blocks = [walk[position[b.slot]][index[b.kernel, b.expand]] for b in arch.active_blocks()]
        return (walk[0][0], walk[1][0], *blocks, walk[-1][0])

    def layer(self, kind: str, input_size: int, stage: int = -1, first: bool = False, kernel: int = 0,
              expand: int = 0) -> Layer:
        if kind == "stem":
            return self._stem(input_size)
        if kind == "first_block":
            return self._first_block(input_size)
        if kind == "head":
            return self._head(input_size)
        if kind != "block":
            raise NasedgeError(f"part kind {kind!r} is not valid; known: {', '.join(LAYER_KINDS)}")
        slot = self._slot.get((stage, 0 if first else 1))
        if slot is None:
            raise NasedgeError(f"space {self.name}: no block {'first' if first else 'rest'} in stage {stage}")
        return self._block(slot, kernel, expand, input_size)

    @functools.cached_property
    def _slot(self) -> dict[tuple[int, int], BlockSlot]:
        return {(slot.stage, slot.index): slot for slot in self.slots()}

    # --- validation ----------------------------------------------------------------------
    @functools.cached_property
    def _allowed(self) -> tuple[frozenset[int], ...]:
        """Values allowed in kernel and expand (a choice, or unused), depth, resolution."""
        return (frozenset(self.kernel_choices) | {UNUSED}, frozenset(self.expand_choices) | {UNUSED},
                tuple(frozenset(c) for c in self.stage_depth_choices), frozenset(self.resolutions))

    def validate(self, arch: Arch, source: str | None = None) -> Arch:
        if not isinstance(arch, Arch):
            raise TypeError(f"expected an Arch, got {type(arch).__name__}")
        if arch.space != self.name:
            raise self.other_space(arch.space, source)
        if arch.num_stages != self.num_stages:
            raise wrong_length("depth", arch.depth, self.num_stages, self.max_depth, source)
        if len(arch.kernel) != self.num_slots:  # expand has as many entries as kernel (the arch's own check)
            raise wrong_length("kernel", arch.kernel, self.num_stages, self.max_depth, source)
        # fast path (validation runs per arch per request in the service): every value allowed somewhere, and
        # the canonical form has exactly the unused slots at 0, i.e. no active slot holds 0
        kernels, expands, depths, resolutions = self._allowed
        if (set(arch.kernel) <= kernels and set(arch.expand) <= expands
                and all(d in c for d, c in zip(arch.depth, depths)) and arch.resolution in resolutions):
            canonical = arch.canonical()
            unused = self.num_slots - sum(arch.depth)
            if canonical.kernel.count(UNUSED) == unused and canonical.expand.count(UNUSED) == unused:
                return canonical
        # slow path: find the first offending field
        for i, (d, choices) in enumerate(zip(arch.depth, self.stage_depth_choices)):
            if d not in choices:
                raise ArchError(f"depth[{i}]", d, list(choices), source)
        for field, choices in (("kernel", self.kernel_choices), ("expand", self.expand_choices)):
            for slot, v in enumerate(getattr(arch, field)):
                if arch.is_active(slot):
                    if v not in choices:
                        raise ArchError(f"{field}[{slot}]", v, list(choices), source)
                elif v != UNUSED and v not in choices:
                    raise ArchError(f"{field}[{slot}]", v, f"{list(choices)} or {UNUSED} (slot beyond depth)", source)
        if arch.resolution not in self.resolutions:
            lo, hi = self.resolutions[0], self.resolutions[-1]
            step = self.resolutions[1] - lo if len(self.resolutions) > 1 else 1
            raise ArchError("resolution", arch.resolution, f"{lo}..{hi} in steps of {step}", source)
        return arch.canonical()

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
        except ArchError:
            return False
        return True

    # --- sampling and variation ----------------------------------------------------------
    def _arch(self, kernel, expand, depth, resolution) -> Arch:
        # stages of fixed depth keep it, whatever was drawn for them (the draws keep the random stream of a
        # space without such stages)
        depth = tuple(int(d) if s.depth is None else s.depth for d, s in zip(depth, self.stages))
        return Arch(self.name, tuple(int(k) for k in kernel), tuple(int(e) for e in expand), depth,
                    int(resolution)).canonical()

    def sample(self, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        return self._arch(
            rng.choice(self.kernel_choices, self.num_slots),
            rng.choice(self.expand_choices, self.num_slots),
            rng.choice(self.depth_choices, self.num_stages),
            rng.choice(self.resolutions),
        )

    def _filled(self, arch: Arch, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        # Unused slots become random choices so that a depth increase activates valid blocks.
        kernel = [k if k != UNUSED else int(rng.choice(self.kernel_choices)) for k in arch.kernel]
        expand = [e if e != UNUSED else int(rng.choice(self.expand_choices)) for e in arch.expand]
        return kernel, expand

    def mutate(self, arch: Arch, rng: RngLike = None, prob: float = 0.1) -> Arch:
        if not is_real(prob) or not 0 <= prob <= 1:
            raise NasedgeError(f"prob: value {prob!r} is not valid; expected a probability from 0 to 1")
        rng = as_rng(rng)
        arch = self.validate(arch)
        kernel, expand = self._filled(arch, rng)
        depth, resolution = list(arch.depth), arch.resolution
        for i in range(self.num_slots):
            if rng.random() < prob:
                kernel[i] = int(rng.choice(self.kernel_choices))
            if rng.random() < prob:
                expand[i] = int(rng.choice(self.expand_choices))
        for i in range(self.num_stages):
            if rng.random() < prob:
                depth[i] = int(rng.choice(self.depth_choices))
        if rng.random() < prob:
            resolution = int(rng.choice(self.resolutions))
        return self._arch(kernel, expand, depth, resolution)

    def crossover(self, a: Arch, b: Arch, rng: RngLike = None) -> Arch:
        rng = as_rng(rng)
        a, b = self.validate(a), self.validate(b)
        (ka, ea), (kb, eb) = self._filled(a, rng), self._filled(b, rng)
        pick = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
        return self._arch(
            [pick(x, y) for x, y in zip(ka, kb)],
            [pick(x, y) for x, y in zip(ea, eb)],
            [pick(x, y) for x, y in zip(a.depth, b.depth)],
            pick(a.resolution, b.resolution),
        )

    def min_arch(self) -> Arch:
        return self._arch([min(self.kernel_choices)] * self.num_slots, [min(self.expand_choices)] * self.num_slots,
                          [min(self.depth_choices)] * self.num_stages, min(self.resolutions))

    def max_arch(self) -> Arch:
        return self._arch([max(self.kernel_choices)] * self.num_slots, [max(self.expand_choices)] * self.num_slots,
                          [max(self.depth_choices)] * self.num_stages, max(self.resolutions))

    def num_archs(self) -> int:
        per_block = len(self.kernel_choices) * len(self.expand_choices)
        return math.prod(sum(per_block**d for d in depths) for depths in self.stage_depth_choices) * len(
            self.resolutions)

    # --- encodings -----------------------------------------------------------------------
    def encode(self, archs: Sequence[Arch], scheme: str = "onehot") -> np.ndarray:
        """Features per arch.

        ``onehot``: per slot one-hot kernel and expand (all zero for unused slots), per stage one-hot
        depth, and resolution scaled to [0, 1]. ``ordinal``: per slot kernel and expand values (0 when
        unused), per stage depth, and resolution, as numbers (for tree models and linear baselines).
        """
        if scheme not in ENCODINGS:
            raise NasedgeError(f"unknown encoding {scheme!r}; known: {', '.join(ENCODINGS)}")
        archs = [self.validate(a) for a in archs]
        if scheme == "ordinal":
            rows = [[*a.kernel, *a.expand, *a.depth, a.resolution] for a in archs]
            return np.asarray(rows, dtype=np.float32).reshape(len(archs), 2 * self.num_slots + self.num_stages + 1)
        nk, ne, nd = len(self.kernel_choices), len(self.expand_choices), len(self.depth_choices)
        width = self.num_slots * (nk + ne) + self.num_stages * nd + 1
        out = np.zeros((len(archs), width), dtype=np.float32)
        k_idx = {k: i for i, k in enumerate(self.kernel_choices)}
        e_idx = {e: i for i, e in enumerate(self.expand_choices)}
        d_idx = [{d: i for i, d in enumerate(c)} for c in self.stage_depth_choices]  # a fixed depth: column 0
        lo, hi = self.resolutions[0], self.resolutions[-1]
        for row, a in enumerate(archs):
            for b in a.active_blocks():
                base = b.slot * (nk + ne)
                out[row, base + k_idx[b.kernel]] = 1.0
                out[row, base + nk + e_idx[b.expand]] = 1.0
            base = self.num_slots * (nk + ne)
            for s, d in enumerate(a.depth):
                out[row, base + s * nd + d_idx[s][d]] = 1.0
            out[row, -1] = (a.resolution - lo) / (hi - lo) if hi > lo else 0.0
        return out
