"""``hill_climb``: random restarts, then mutations of the best feasible arch found so far."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasedge.search import Evaluator, Strategy, StrategyConfig
from nasedge.search.base import require
from nasedge.spaces import SearchSpace


@dataclass
class HillClimbConfig(StrategyConfig):
    name: str = "hill_climb"
    initial: int = 32  # random archs scored before climbing
    batch_size: int = 16  # neighbours of the best arch scored per step
    mutate_prob: float = 0.1  # per-dimension resampling probability of a neighbour


class HillClimbStrategy(Strategy):
    """Greedy local search: each step scores mutations of the best feasible arch and moves to a better one."""

    name = "hill_climb"
    Config = HillClimbConfig

    @classmethod
    def check_config(cls, config: HillClimbConfig) -> None:
        super().check_config(config)
        require(config, "initial", config.initial >= 1, "a positive integer")
        require(config, "batch_size", config.batch_size >= 1, "a positive integer")
        require(config, "mutate_prob", 0 < config.mutate_prob <= 1, "a number in (0, 1]")

    def _search(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, seed: int) -> None:
        cfg = self.config
        best, best_value = None, -np.inf
        batch = [space.sample(rng) for _ in range(cfg.initial)]
        while True:
            objective, _, feasible = evaluator.evaluate(batch)
            for arch, value, ok in zip(batch, objective, feasible):
                if ok and value > best_value:
                    best, best_value = arch, value
            if best is None:  # nothing feasible yet: keep sampling
                batch = [space.sample(rng) for _ in range(cfg.batch_size)]
            else:
                batch = [space.mutate(best, rng, cfg.mutate_prob) for _ in range(cfg.batch_size)]
