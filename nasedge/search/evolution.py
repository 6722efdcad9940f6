"""Evolutionary search in the style of Once-for-All's evolution finder, without rejection loops.

Each generation keeps the best ``parents_ratio`` of the population and refills it with children:
``mutation_ratio`` of them mutate a random parent, the rest cross two random parents over.

The published finder resamples a child until it meets the budget, which never ends when the
budget is tight. Here a child that misses the budget is *repaired*: in each of ``repair_rounds``
rounds, every dimension moves to its smallest choice with probability ``repair_prob``
(shrinking toward ``space.min_arch()`` through the space's own crossover), so the cost of a child
is bounded. What is still infeasible afterwards stays in the population ranked behind every
feasible arch (feasibility first, then objective; among infeasible ones the smaller violation),
so a search under a budget few archs meet still makes progress. The population holds distinct
archs, and no arch is proposed twice (a repeat is mutated again, then replaced by a random one),
which keeps the population diverse and spends no evaluation on an arch already seen.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from nasedge.arch import Arch
from nasedge.search.base import Candidate, Evaluator, Strategy, StrategyConfig, require
from nasedge.spaces.base import SearchSpace

_FRESH_ATTEMPTS = 8  # re-mutations of a child that repeats a known arch before a random one replaces it


@dataclass
class EvolutionConfig(StrategyConfig):
    name: str = "evolution"
    population_size: int = 50  # OFA used 100 for far longer searches; 50 does better within ~1000 evaluations
    parents_ratio: float = 0.25
    mutation_ratio: float = 0.5  # share of children made by mutation (the rest by crossover)
    mutate_prob: float = 0.1  # per-dimension resampling probability of a mutation
    repair_rounds: int = 6  # shrinking rounds for a child that misses the budget
    repair_prob: float = 0.25  # per-dimension probability of moving to the smallest choice in a round


class EvolutionStrategy(Strategy):
    """OFA-style evolution under a constraint, with repair instead of rejection sampling."""

    name = "evolution"
    Config = EvolutionConfig

    @classmethod
    def check_config(cls, config: EvolutionConfig) -> None:
        super().check_config(config)
        require(config, "population_size", config.population_size >= 4, "an integer >= 4")
        require(config, "parents_ratio", 0 < config.parents_ratio < 1, "a number in (0, 1)")
        # every generation needs a child: with as many parents as members it makes none, and proposes nothing, forever
        parents = _parents(config)
        require(config, "parents_ratio", parents < config.population_size,
                f"a ratio that leaves room for children (it gives {parents} parents in a population of "
                f"{config.population_size})")
        require(config, "mutation_ratio", 0 <= config.mutation_ratio <= 1, "a number in [0, 1]")
        require(config, "mutate_prob", 0 < config.mutate_prob <= 1, "a number in (0, 1]")
        require(config, "repair_rounds", config.repair_rounds >= 0, "a non-negative integer")
        require(config, "repair_prob", 0 < config.repair_prob <= 1, "a number in (0, 1]")

    def _search(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, seed: int) -> None:
        cfg = self.config
        size = cfg.population_size
        n_parents = _parents(cfg)
        n_mutants = round((size - n_parents) * cfg.mutation_ratio)
        population = self._populate(space, evaluator, rng, [space.sample(rng) for _ in range(size)])
        while True:
            parents = _rank(population)[:n_parents]
            children: list[Arch] = []
            seen: set[Arch] = set()
            for i in range(size - n_parents):
                make = functools.partial(self._child, space, parents, i < n_mutants, rng)
                children.append(self._fresh(space, evaluator, rng, make, seen))
            kept = {p.arch for p in parents}
            population = parents + [c for c in self._populate(space, evaluator, rng, children) if c.arch not in kept]

    def _child(self, space: SearchSpace, parents: list[Candidate], mutate: bool, rng: np.random.Generator) -> Arch:
        if mutate or len(parents) < 2:
            return space.mutate(parents[rng.integers(len(parents))].arch, rng, self.config.mutate_prob)
        i, j = rng.choice(len(parents), 2, replace=False)
        return space.crossover(parents[i].arch, parents[j].arch, rng)

    def _fresh(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, make, seen: set[Arch]) -> Arch:
        """A child that repeats no arch the search has seen (``make`` retried, then a random arch)."""
        for _ in range(_FRESH_ATTEMPTS):
            child = make()
            if child not in seen and not evaluator.known(child):
                break
        else:
            child = space.sample(rng)
        seen.add(child)
        return child

    def _populate(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator,
                  archs: list[Arch]) -> list[Candidate]:
        """Screen ``archs``, repair the ones that miss the budget, score the feasible ones.

        Returns distinct candidates (a repair may land on an arch another child already is).
        """
        budget = evaluator.budget
        latency = evaluator.screen(archs)
        smallest = space.min_arch()
        for _ in range(self.config.repair_rounds):
            over = [i for i, lat in enumerate(latency) if lat > budget]
            if not over:
                break
            shrunk = [self._shrink(space, archs[i], smallest, rng) for i in over]
            for i, arch, lat in zip(over, shrunk, evaluator.screen(shrunk)):
                archs[i], latency[i] = arch, lat
        distinct = list(dict.fromkeys(archs))
        evaluator.evaluate([a for a in distinct if evaluator.get(a).feasible])
        return [evaluator.get(a) for a in distinct]

    def _shrink(self, space: SearchSpace, arch: Arch, smallest: Arch, rng: np.random.Generator) -> Arch:
        # crossover(a, b) takes each dimension from either parent with probability 1/2; nesting it
        # takes a dimension from `smallest` with probability 1/2^k, so k crossovers give ~2^-k.
        # repair_prob is matched by the nearest such power and then by a mixing step.
        p = self.config.repair_prob
        target = smallest
        while p < 0.5:
            target = space.crossover(arch, target, rng)
            p *= 2
        # p is now in [0.5, 1]: with probability 2p - 1 take target outright, else cross once more
        return target if rng.random() < 2 * p - 1 else space.crossover(arch, target, rng)


def _parents(config: EvolutionConfig) -> int:
    return max(2, round(config.population_size * config.parents_ratio))


def _rank(population: list[Candidate]) -> list[Candidate]:
    """Feasible first by objective (descending); then infeasible by constraint (ascending). Stable."""
    def key(c: Candidate):
        if c.feasible and c.objective is not None:
            return (0, -c.objective)
        return (1, c.constraint)
    return sorted(population, key=key)
