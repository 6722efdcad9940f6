"""The Hydra `search` group: one YAML per registered strategy, typed by the strategy's config schema."""

from __future__ import annotations

import dataclasses

import pytest

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.resources import shipped_path
from nasedge.search import list_strategies, strategy_class, strategy_from_config


def test_every_strategy_has_a_yaml_and_every_yaml_a_strategy():
    assert sorted(p.stem for p in (shipped_path("conf") / "search").glob("*.yaml")) == list_strategies()


@pytest.mark.parametrize("name", list_strategies())
def test_yaml_composes_to_the_schema_defaults(name):
    cfg = compose([f"search={name}"])
    strategy = strategy_from_config(cfg.search)
    assert type(strategy) is strategy_class(name)
    # the YAML spells out the defaults (for users to read); they must not drift from the schema
    assert strategy.config == strategy_class(name).Config()


def test_default_strategy_and_overrides():
    assert strategy_from_config(compose([]).search).name == "evolution"
    cfg = compose(["search=optuna", "search.sampler=nsga2", "search.storage=/tmp/study.log",
                   "search.max_evaluations=300"])
    config = strategy_from_config(cfg.search).config
    assert (config.sampler, config.storage, config.max_evaluations) == ("nsga2", "/tmp/study.log", 300)
    assert dataclasses.asdict(config)["name"] == "optuna"


@pytest.mark.parametrize("overrides,message", [
    (["search=optuna", "search.batch_size=many"], "search.batch_size"),
    (["search=evolution", "search.sampler=tpe"], "search.sampler"),
    (["search=annealing"], "search"),
])
def test_bad_overrides_are_one_line_errors(overrides, message):
    with pytest.raises(NasedgeError, match=message):
        compose(overrides)


def test_bad_values_are_caught_by_the_strategy():
    with pytest.raises(NasedgeError, match="option 'sampler': value 'cmaes'"):
        strategy_from_config(compose(["search=optuna", "search.sampler=cmaes"]).search)


@pytest.mark.parametrize("node", [{"max_evaluations": 10}, {"name": "?", "max_evaluations": 10}, {"name": ""}])
def test_a_search_config_that_names_no_strategy_says_so(node):
    # a plugin's YAML without `name:` composed to the schema's "?": "unknown search strategy '?'"
    with pytest.raises(NasedgeError, match=r"^search config: field 'name' is not set; a strategy's YAML "
                                           r"\(conf/search/<option>.yaml\) names the strategy"):
        strategy_from_config(node)
