"""The abstract search space: what every family of spaces provides to the rest of nasedge."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from nasedge.arch import Arch

RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy) wherever a random source is needed."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


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

    def sample_many(self, n: int, rng: RngLike = None, unique: bool = True) -> list[Arch]:
        """``n`` archs; distinct when ``unique`` (the space must hold at least ``n``)."""
        rng = as_rng(rng)
        if unique and n > self.num_archs():
            raise ValueError(f"space {self.name} holds only {self.num_archs()} archs, asked for {n} distinct")
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
