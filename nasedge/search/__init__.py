"""Search strategies: maximize predicted accuracy under a predicted-latency budget.

One registry of strategies (``evolution``, ``optuna``, ``random``), each a :class:`Strategy`
subclass with a typed config (the Hydra ``search`` group). Adding a strategy is one module with a
subclass decorated by :func:`register_strategy` and one YAML in ``conf/search/``.

>>> strategy = create_strategy("evolution", population_size=50)
>>> result = strategy.run(space, objective, constraint, budget=20.0, max_evaluations=1000, seed=0)
>>> result.best_arch, result.best_objective, result.pareto
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.search.base import (Candidate, Evaluator, SearchExhausted, SearchProgress, SearchResult, Strategy,
                                 StrategyConfig, check_budget)
from nasedge.search.pareto import nondominated_ranks, pareto_front

__all__ = ["Candidate", "Evaluator", "SearchExhausted", "SearchProgress", "SearchResult", "Strategy",
           "StrategyConfig", "check_budget", "create_strategy", "list_strategies", "nondominated_ranks",
           "pareto_front", "register_strategy", "strategy_class", "strategy_from_config"]

_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available as ``create_strategy(cls.name)``."""
    if cls.name in _STRATEGIES:
        raise ValueError(f"search strategy {cls.name!r} is already registered")
    _STRATEGIES[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    return sorted(_STRATEGIES)


def strategy_class(name: str) -> type[Strategy]:
    if name not in _STRATEGIES:
        raise NasedgeError(f"unknown search strategy {name!r}; known: {', '.join(list_strategies())}")
    return _STRATEGIES[name]


def create_strategy(name: str, /, **options: Any) -> Strategy:
    """A strategy by name with its options (unknown or ill-typed options raise :class:`NasedgeError`).

    ``options`` may also be a Hydra ``search`` node unpacked (its ``name`` must match).
    """
    cls = strategy_class(name)
    options = dict(options)
    if options.pop("name", name) != name:
        raise NasedgeError(f"search strategy {name!r}: option 'name' must be {name!r}")
    fields = {f.name: f for f in dataclasses.fields(cls.Config) if f.name != "name"}
    for key, value in options.items():
        if key not in fields:
            raise NasedgeError(f"search strategy {name!r}: unknown option {key!r}; known: {', '.join(fields)}")
    return cls(cls.Config(name=name, **options))


def strategy_from_config(node: Mapping[str, Any]) -> Strategy:
    """A strategy from a composed Hydra ``search`` node (``cfg.search``)."""
    options = {str(k): v for k, v in dict(node).items()}
    if "name" not in options:
        raise NasedgeError("search config: field 'name' is required")
    return create_strategy(str(options.pop("name")), **options)


def _register_builtins() -> None:
    from nasedge.search.evolution import EvolutionStrategy
    from nasedge.search.optuna_search import OptunaStrategy
    from nasedge.search.random_search import RandomStrategy

    for cls in (EvolutionStrategy, OptunaStrategy, RandomStrategy):
        register_strategy(cls)


_register_builtins()
