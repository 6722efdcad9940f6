"""The abstract search space: what every family of spaces provides to the rest of nasedge.

Besides sampling and variation, a family owns the geometry of its networks: :meth:`SearchSpace.layers`
walks an arch from stem to head once and describes every part as a :class:`Layer` (sizes, channels,
kernel, stride, activation, squeeze-excite). The analytic cost, the latency encodings, lookup tables
and measurement workloads read those layers, so they work for any family that provides its walk.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import ArchError, NasedgeError, is_integer

RngLike = np.random.Generator | int | None

LAYER_KINDS = ("stem", "first_block", "block", "head")


@dataclass(frozen=True)
class Layer:
    """One part of a network, as a lookup table measures it: its geometry and its identity.

    ``kind`` says what the part computes:

    - ``stem``: ``kernel x kernel`` conv (stride ``stride``) -> BN -> ``act``.
    - ``first_block``, ``block``: inverted bottleneck: 1x1 expand conv to ``hidden`` channels (none when
      ``hidden`` is None: the depthwise conv runs on ``in_channels``) -> ``kernel x kernel`` depthwise conv
      (stride ``stride``) -> squeeze-excite to ``se`` channels (none when 0) -> 1x1 project conv; BN and
      ``act`` after the expand and depthwise convs; residual when stride 1 keeps the channels.
    - ``head``: 1x1 conv to ``hidden`` channels -> BN -> ``act`` -> global pooling -> 1x1 conv to ``mix``
      channels -> ``act`` -> classifier to ``out_channels`` classes (``output_size`` 1).

    Sizes are pixels per side. ``stage``, ``slot``, ``first`` (the first block of its stage) and ``expand``
    (the expand ratio chosen) are set for blocks of the elastic stages only (``kind="block"``).
    """

    kind: str
    input_size: int
    output_size: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    act: str
    hidden: int | None = None
    se: int = 0
    mix: int = 0
    stage: int = -1
    slot: int = -1
    first: bool = False
    expand: int = 0

    @property
    def identity(self) -> dict[str, Any]:
        """What tells this part from the others of its space (the fields of :attr:`key`)."""
        if self.kind != "block":
            return {"kind": self.kind, "input_size": self.input_size}
        return {"kind": self.kind, "input_size": self.input_size, "stage": self.stage, "first": self.first,
                "kernel": self.kernel, "expand": self.expand}

    @property
    def key(self) -> str:
        """The part's key in a latency table: ``stem:in224``, ``block:s0:first:k3:e4:in112``, ``head:in7``.

        Blocks after the first of a stage all have the same shape, so they share their keys.
        """
        return part_key(**self.identity)


def part_key(kind: str, input_size: int, stage: int = -1, first: bool = False, kernel: int = 0,
             expand: int = 0) -> str:
    """The latency-table key of a part with this identity (see :attr:`Layer.key`)."""
    if kind == "block":
        return f"block:s{stage}:{'first' if first else 'rest'}:k{kernel}:e{expand}:in{input_size}"
    return f"{kind}:in{input_size}"


def parse_part_key(key: str) -> dict[str, Any]:
    """The identity of a part (keyword arguments of :func:`part_key`) from its key."""
    fields = key.split(":")
    try:
        if fields[0] == "block":
            _, s, pos, k, e, size = fields
            if pos not in ("first", "rest") or s[0] != "s" or k[0] != "k" or e[0] != "e" or size[:2] != "in":
                raise ValueError(key)
            return {"kind": "block", "input_size": int(size[2:]), "stage": int(s[1:]), "first": pos == "first",
                    "kernel": int(k[1:]), "expand": int(e[1:])}
        kind, size = fields
        if kind not in LAYER_KINDS or size[:2] != "in":
            raise ValueError(key)
        return {"kind": kind, "input_size": int(size[2:])}
    except (ValueError, IndexError):
        raise NasedgeError(f"part key {key!r} is not valid") from None


def as_rng(rng: RngLike) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy) wherever a random source is needed."""
    if isinstance(rng, np.random.Generator):
        return rng
    # what numpy takes (an int, a list of them, a SeedSequence or bit generator) goes to it; the rest is named here
    if isinstance(rng, (bool, str, bytes, float)) or (is_integer(rng) and rng < 0):
        raise NasedgeError(f"seed: value {rng!r} is not valid; expected an integer >= 0, a numpy Generator or None")
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise NasedgeError(f"seed: value {rng!r} is not valid ({exc})") from None


class SearchSpace(abc.ABC):
    """A set of architectures with its dimensions, sampling and variation operators.

    Implementations are immutable; :meth:`restrict` returns a narrower copy (used by progressive
    shrinking, which trains on growing subsets of the choices).
    """

    name: str
    family: str

    @abc.abstractmethod
    def validate(self, arch: Arch, source: str | None = None) -> Arch:
        """Return the canonical arch, or raise :class:`~nasedge.errors.ArchError` naming the field."""

    @abc.abstractmethod
    def sample(self, rng: RngLike = None) -> Arch:
        """One arch drawn uniformly per dimension."""

    @abc.abstractmethod
    def mutate(self, arch: Arch, rng: RngLike = None, prob: float = 0.1) -> Arch:
        """Resample each dimension of ``arch`` with probability ``prob``."""

    @abc.abstractmethod
    def crossover(self, a: Arch, b: Arch, rng: RngLike = None) -> Arch:
        """Take each dimension from ``a`` or ``b`` with equal probability."""

    @abc.abstractmethod
    def min_arch(self) -> Arch:
        """The smallest arch (every choice at its minimum)."""

    @abc.abstractmethod
    def max_arch(self) -> Arch:
        """The largest arch (every choice at its maximum)."""

    @abc.abstractmethod
    def num_archs(self) -> int:
        """Number of distinct (canonical) archs in the space."""

    @abc.abstractmethod
    def encode(self, archs: Sequence[Arch], scheme: str = "onehot") -> np.ndarray:
        """Feature matrix (``len(archs) x features``, float32) for predictors."""

    @abc.abstractmethod
    def restrict(self, **choices: Sequence[int]) -> SearchSpace:
        """The same space with fewer choices for the named dimensions."""

    @property
    def arch_shape(self) -> tuple[int, int] | None:
        """``(stages, block slots per stage)`` of every arch of the space (None: the family does not say, and an
        arch read is checked against its own fields only)."""
        return None

    def shape_of(self, name: str, source: str | None = None) -> tuple[int, int] | None:
        """:attr:`arch_shape` for an arch that names this space, :meth:`other_space` for another (``shape_of`` of
        :meth:`~nasedge.arch.Arch.from_dict`, where the space is known before the arch is read)."""
        if name != self.name:  # said first, as validate says it: another space's arch has other lengths too
            raise self.other_space(name, source)
        return self.arch_shape

    def other_space(self, name: object, source: str | None = None) -> ArchError:
        """The error of an arch that names another space than this one."""
        return ArchError("space", name, f"'{self.name}'", source)

    # --- geometry: the family's one layer walk ----------------------------------------------
    @abc.abstractmethod
    def layers(self, arch: Arch) -> tuple[Layer, ...]:
        """The parts of ``arch``'s network (validated against the space), in network order."""

    @abc.abstractmethod
    def layer_choices(self, resolution: int) -> tuple[tuple[Layer, ...], ...]:
        """Every part an arch at ``resolution`` can have, per position of the network, in network order.

        A fixed part (stem, first block, head: ``slot == -1``) has one option, a block slot one per
        (kernel, expand) choice. A slot's layer depends on the resolution and its own choices only, so an
        arch's network is one option per fixed position and per active slot, and its lookup-table latency
        and cost features are sums over positions.
        """

    @abc.abstractmethod
    def layer(self, kind: str, input_size: int, stage: int = -1, first: bool = False, kernel: int = 0,
              expand: int = 0) -> Layer:
        """The part with this identity (:attr:`Layer.identity`, e.g. read back from a lookup-table key).

        Blocks after the first of a stage share one identity; the layer returned is the stage's second slot.
        """

    def sample_many(self, n: int, rng: RngLike = None, unique: bool = True) -> list[Arch]:
        """``n`` archs; distinct when ``unique`` (the space must hold at least ``n``)."""
        if not is_integer(n) or n < 0:
            raise NasedgeError(f"n: value {n!r} is not valid; expected a count of archs (an integer >= 0)")
        rng = as_rng(rng)
        if unique and n > self.num_archs():
            raise NasedgeError(f"{n} distinct archs of space {self.name} asked for; it holds only {self.num_archs()}")
        out: list[Arch] = []
        seen: set[Arch] = set()
        while len(out) < n:
            arch = self.sample(rng)
            if unique and arch in seen:
                continue
            seen.add(arch)
            out.append(arch)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
