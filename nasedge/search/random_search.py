"""Random search: the baseline every other strategy has to beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasedge.search.base import Evaluator, Strategy, StrategyConfig, require
from nasedge.spaces.base import SearchSpace


@dataclass
class RandomConfig(StrategyConfig):
    name: str = "random"
    batch_size: int = 64  # archs scored per predictor call


class RandomStrategy(Strategy):
    """Sample archs uniformly per dimension and keep the best that meets the budget."""

    name = "random"
    Config = RandomConfig

    @classmethod
    def check_config(cls, config: RandomConfig) -> None:
        super().check_config(config)
        require(config, "batch_size", config.batch_size >= 1, "a positive integer")  # 0 proposes nothing, forever

    def _search(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, seed: int) -> None:
        while True:
            batch = [space.sample(rng) for _ in range(self.config.batch_size)]
            evaluator.evaluate([a for a in batch if not evaluator.known(a)] or batch)
