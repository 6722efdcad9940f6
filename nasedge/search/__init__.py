"""Search strategies: maximize predicted accuracy under a predicted-latency budget.

One registry of strategies (``evolution``, ``optuna``, ``random``), each a :class:`Strategy`
subclass with a typed config (the Hydra ``search`` group). Adding a strategy is one module with a
subclass and one YAML in ``conf/search/``, registered by its import path in the table below (or by
a plugin package, see :mod:`nasedge.registry`) with :func:`register_strategy`.

>>> strategy = create_strategy("evolution", population_size=50)
>>> result = strategy.run(space, objective, constraint, budget=20.0, max_evaluations=1000, seed=0)
>>> result.best_arch, result.best_objective, result.pareto
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from nasedge.errors import NasedgeError, unknown_name
from nasedge.registry import Entry, Registry, class_problem
from nasedge.search.base import (Candidate, Evaluator, SearchExhausted, SearchProgress, SearchResult, Strategy,
                                 StrategyConfig, check_budget)
from nasedge.search.pareto import nondominated_ranks, pareto_front

__all__ = ["Candidate", "Evaluator", "SearchExhausted", "SearchProgress", "SearchResult", "Strategy",
           "StrategyConfig", "check_budget", "create_strategy", "list_strategies", "nondominated_ranks",
           "pareto_front", "register_strategy", "strategy_class", "strategy_entry", "strategy_from_config",
           "unknown_strategy"]


def _strategy_problem(obj: object) -> str | None:
    """What keeps a registered target from being a strategy: a Strategy subclass, ``_search`` implemented, its
    ``Config`` a StrategyConfig dataclass (the ``search`` group's schema)."""
    return class_problem(obj, Strategy, ("Config", StrategyConfig))


_STRATEGIES = Registry("search strategy", {
    "evolution": "nasedge.search.evolution:EvolutionStrategy",
    "optuna": "nasedge.search.optuna_search:OptunaStrategy",
    "random": "nasedge.search.random_search:RandomStrategy",
}, check=_strategy_problem)


def register_strategy(cls: type[Strategy] | str, target: str | None = None, *, requires: tuple[str, ...] = (),
                      install_hint: str = "") -> Any:
    """Make a strategy available by name: ``register_strategy(cls)`` (also a class decorator), or
    ``register_strategy(name, "package.module:Class", requires=...)``, imported only when used."""
    if isinstance(cls, str):
        _STRATEGIES.register(cls, target, requires=requires, install_hint=install_hint)
        return None
    _STRATEGIES.register(cls.name, cls, requires=requires, install_hint=install_hint)
    return cls


def list_strategies() -> list[str]:
    return _STRATEGIES.names()


def strategy_class(name: str) -> type[Strategy]:
    return _STRATEGIES.load(name)


def strategy_entry(name: str) -> Entry:
    """The registry entry of ``name`` (its target and the plugin that registered it), nothing imported."""
    return _STRATEGIES.entry(name)


def unknown_strategy(name: str, known: Sequence[str] | None = None) -> NasedgeError:
    """The error of ``name`` that is no strategy (``--strategy``, ``search=``; ``known``: the names to list, default
    the registered ones)."""
    return unknown_name(_STRATEGIES.kind, name, list_strategies() if known is None else list(known))


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
    if options.get("name") in (None, "", "?"):  # "?": the schema's default, a YAML (a plugin's) that names none
        raise NasedgeError("search config: field 'name' is not set; a strategy's YAML (conf/search/<option>.yaml) "
                           "names the strategy it configures (name: evolution, ...)")
    return create_strategy(str(options.pop("name")), **options)
