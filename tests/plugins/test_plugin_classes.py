"""A plugin whose classes are not what their registry takes (a plain class, an abstract method left out, a ``Config``
that is no schema) or whose code returns the wrong thing: one line naming the plugin's name, the other names and
commands unaffected."""

from __future__ import annotations

import pytest

from nasedge.cli import main
from nasedge.config import compose
from nasedge.errors import NasedgeError
from tests.plugins.test_example_plugin import _add_entry_point

BRK = '''
from dataclasses import dataclass

import numpy as np

from nasedge.measure.measurer import Measurer
from nasedge.measure.runtime import Runtime
from nasedge.predict.base import LatencyPredictor
from nasedge.search import Strategy


def register():
    from nasedge.measure import register_runtime
    from nasedge.predict import register_predictor
    from nasedge.search import register_strategy
    from nasedge.spaces import register_family

    register_strategy("brk_notastrategy", "nasedge_example_plugin.brk:NotAStrategy")
    register_strategy("brk_dictconfig", "nasedge_example_plugin.brk:DictConfigSearch")
    register_strategy("brk_nosearch", "nasedge_example_plugin.brk:NoSearch")
    register_strategy("brk_noyaml", "nasedge_example_plugin.brk:BadArchSearch")
    register_strategy("brk_badarch", "nasedge_example_plugin.brk:BadArchSearch")
    register_predictor("brk_nostate", "nasedge_example_plugin.brk:NoStatePredictor")
    register_predictor("brk_noyamlpred", "nasedge_example_plugin.brk:NoStatePredictor")
    register_runtime("brk_noload", "nasedge_example_plugin.brk:NoLoadRuntime")
    register_runtime("brk_badrunner", "nasedge_example_plugin.brk:BadRunnerRuntime")
    register_runtime("brk_nonerunner", "nasedge_example_plugin.brk:NoneRunnerRuntime")
    register_family("brk_fam_dict", "nasedge_example_plugin.brk:dict_family")


class NotAStrategy:
    name = "brk_notastrategy"


class DictConfigSearch(Strategy):
    name = "brk_dictconfig"
    Config = dict

    def _search(self, space, evaluator, rng, seed):
        pass


class NoSearch(Strategy):
    name = "brk_nosearch"


class BadArchSearch(Strategy):
    name = "brk_badarch"

    def _search(self, space, evaluator, rng, seed):
        evaluator.evaluate(["not an arch", 42])


class NoStatePredictor(LatencyPredictor):
    name = "brk_nostate"

    def _fit(self, items, y):
        self.m = float(np.mean(y))

    def _predict(self, items):
        return np.full(len(items), self.m)


class NoLoadRuntime(Runtime):
    name = "brk_noload"


class BadRunnerRuntime(Runtime):
    name = "brk_badrunner"

    def load(self, workload, artifacts):
        return lambda: "1.5ms"


class NoneRunnerRuntime(Runtime):
    name = "brk_nonerunner"

    def load(self, workload, artifacts):
        return lambda: None


class FloatMeasurer(Measurer):
    def measure(self, workloads, artifacts=None):
        return [1.0 for _ in workloads]


def dict_family(data, source):
    return dict(data)
'''


def _schema_yaml(group: str, name: str) -> str:
    return f"defaults:\n  - {name}_schema\n  - _self_\n\nname: {name}\n"


@pytest.fixture
def brk_plugin(example_plugin):
    """The example plugin and a second entry point, ``brk``, whose names are broken in the ways above."""
    package = example_plugin / "nasedge_example_plugin"
    (package / "brk.py").write_text(BRK)
    for name in ("brk_notastrategy", "brk_dictconfig", "brk_nosearch", "brk_badarch"):
        (package / "conf" / "search" / f"{name}.yaml").write_text(_schema_yaml("search", name))
    (package / "conf" / "predictor" / "brk_nostate.yaml").write_text(_schema_yaml("predictor", "brk_nostate"))
    _add_entry_point(example_plugin, "brk", "nasedge_example_plugin.brk:register")
    return package


def _lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()


def _notastrategy(what: str) -> str:
    return (f"search strategy 'brk_notastrategy' (nasedge_example_plugin.brk:NotAStrategy, registered by plugin "
            f"'brk') is not valid: {what}")


NOT_A_STRATEGY = _notastrategy("NotAStrategy is not a Strategy subclass")
DICT_CONFIG = ("search strategy 'brk_dictconfig' (nasedge_example_plugin.brk:DictConfigSearch, registered by plugin "
               "'brk') is not valid: DictConfigSearch.Config is dict; expected a dataclass subclass of StrategyConfig")
NO_SEARCH = ("search strategy 'brk_nosearch' (nasedge_example_plugin.brk:NoSearch, registered by plugin 'brk') is "
             "not valid: NoSearch does not implement the abstract method _search of Strategy")
NO_STATE = ("latency predictor 'brk_nostate' (nasedge_example_plugin.brk:NoStatePredictor, registered by plugin "
            "'brk') is not valid: NoStatePredictor does not implement the abstract methods _load_state, _state of "
            "LatencyPredictor")


def test_a_class_that_cannot_be_a_strategy_is_left_out_with_a_warning(brk_plugin, capsys):
    # every command composes the config, which stores every strategy's schema: one bad class stopped them all
    cfg = compose([])
    assert cfg.search.name == "evolution" and compose(["search=hill_climb"]).search.initial == 32
    assert main(["arch", "sample", "--space", "ofa_mbv3_tiny", "-n", "1", "--seed", "0"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith('{"space":"ofa_mbv3_tiny"') and "Traceback" not in out.err
    warnings = out.err.strip().splitlines()
    for line in (NOT_A_STRATEGY, DICT_CONFIG, NO_SEARCH, NO_STATE):
        assert f"nasedge: warning: {line}" in warnings


@pytest.mark.parametrize("strategy, message", [("brk_notastrategy", NOT_A_STRATEGY), ("brk_dictconfig", DICT_CONFIG),
                                               ("brk_nosearch", NO_SEARCH)])
def test_selecting_a_class_that_cannot_be_a_strategy_is_one_line(brk_plugin, capsys, strategy, message):
    with pytest.raises(NasedgeError) as exc:
        compose([f"search={strategy}"])
    assert str(exc.value) == message
    # refused before the supernet and predictors load: within the input checks
    assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--strategy", strategy]) == 2
    assert _lines(capsys)[-1] == f"nasedge: error: {message}"


def test_a_predictor_or_runtime_without_its_abstract_methods_is_refused_when_selected(brk_plugin, capsys):
    with pytest.raises(NasedgeError) as exc:
        compose(["predictor=brk_nostate"])
    assert str(exc.value) == NO_STATE
    # before any arch is measured (the measurements were kept, the fit failed after them)
    assert main(["predictor", "fit", "--device", "cpu", "--predictor", "brk_nostate"]) == 2
    assert _lines(capsys)[-1] == f"nasedge: error: {NO_STATE}"
    assert main(["devices", "add", "dev-x", "--runtime", "brk_noload"]) == 2
    assert _lines(capsys)[-1] == (
        "nasedge: error: runtime 'brk_noload' (nasedge_example_plugin.brk:NoLoadRuntime, registered by plugin "
        "'brk') is not valid: NoLoadRuntime does not implement the abstract method load of Runtime")


def test_a_name_registered_without_its_yaml_says_which_file_it_lacks(brk_plugin, capsys):
    assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--strategy", "brk_noyaml"]) == 2
    assert _lines(capsys)[-1] == (
        "nasedge: error: search strategy 'brk_noyaml' (nasedge_example_plugin.brk:BadArchSearch, registered by "
        "plugin 'brk') is registered but has no config file conf/search/brk_noyaml.yaml; its plugin's package needs "
        "one to select it (defaults: [brk_noyaml_schema, _self_], then its options)")
    with pytest.raises(NasedgeError, match=r"^latency predictor 'brk_noyamlpred' \(nasedge_example_plugin.brk:"
                                           r"NoStatePredictor, registered by plugin 'brk'\) is registered but has no "
                                           r"config file conf/predictor/brk_noyamlpred.yaml; "):
        compose(["predictor=brk_noyamlpred"])


def test_a_strategy_proposing_what_is_no_arch_is_named(brk_plugin):
    import math

    from nasedge.search import create_strategy
    from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
    from nasedge.spaces import get_space

    space = get_space("ofa_mbv3_tiny")
    with pytest.raises(NasedgeError) as exc:
        create_strategy("brk_badarch").run(space, ProxyAccuracy(space), ProxyLatency(space), math.inf,
                                           max_evaluations=10)
    assert str(exc.value) == ("search strategy 'brk_badarch' (BadArchSearch) proposed a str ('not an arch'); "
                              "expected an Arch of space 'ofa_mbv3_tiny'")


def test_a_family_parser_returning_no_space_is_named(brk_plugin, capsys):
    path = brk_plugin / "search_spaces" / "brk_dict.yaml"
    path.write_text("name: brk_dict\nfamily: brk_fam_dict\n")
    assert main(["arch", "sample", "--space", "brk_dict", "-n", "1"]) == 2
    assert _lines(capsys)[-1] == (
        f"nasedge: error: {path}: search-space family 'brk_fam_dict' (nasedge_example_plugin.brk:dict_family, "
        f"registered by plugin 'brk') returned a dict ({{'name': 'brk_dict', 'family': 'brk_f...); expected "
        f"a SearchSpace")


def test_a_measurer_returning_no_latency_stats_is_named(brk_plugin):
    from nasedge.measure import Device
    from nasedge.spaces import get_space

    device = Device.from_config({"name": "brk-float", "where": "local",
                                 "measure": {"_target_": "nasedge_example_plugin.brk.FloatMeasurer"}}, "brk-float.yaml")
    with pytest.raises(NasedgeError) as exc:
        device.measure(get_space("ofa_mbv3_tiny").sample_many(2, 0))
    assert str(exc.value) == ("device brk-float: its measurer nasedge_example_plugin.brk.FloatMeasurer returned a "
                              "float (1.0) for workload 0; expected a LatencyStats per workload")


@pytest.mark.parametrize("runtime, got", [("brk_badrunner", "a str ('1.5ms')"), ("brk_nonerunner", "None")])
def test_a_runner_returning_no_milliseconds_is_named(brk_plugin, runtime, got):
    from nasedge.measure import RuntimeMeasurer, Subnet
    from nasedge.spaces import get_space

    measurer = RuntimeMeasurer(runtime, threads=1, protocol={"warmup_runs": 1, "warmup_s": 0.0})
    with pytest.raises(NasedgeError) as exc:
        measurer.measure([Subnet(get_space("ofa_mbv3_tiny").min_arch())])
    classes = {"brk_badrunner": "BadRunnerRuntime", "brk_nonerunner": "NoneRunnerRuntime"}
    assert str(exc.value) == (f"runtime {runtime!r} ({classes[runtime]}): its runner returned {got}; expected a "
                              f"latency in milliseconds (a number)")


def test_a_plugin_file_whose_name_is_taken_is_said_to_be_ignored(example_plugin, capsys):
    from nasedge.resources import shipped_path

    package = example_plugin / "nasedge_example_plugin"
    space = package / "search_spaces" / "ofa_mbv3_tiny.yaml"
    space.write_text("name: ofa_mbv3_tiny\nfamily: example_chain\n")
    search = package / "conf" / "search" / "evolution.yaml"
    search.write_text("defaults:\n  - evolution_schema\n  - _self_\n\nmax_evaluations: 7\n")
    assert main(["arch", "sample", "--space", "ofa_mbv3_tiny", "-n", "1"]) == 0
    assert set(_lines(capsys)) == {
        f"nasedge: warning: {space}: ignored: the shipped search space 'ofa_mbv3_tiny' "
        f"({shipped_path('search_spaces') / 'ofa_mbv3_tiny.yaml'}) takes the name first; rename the file and its "
        f"'name' field",
        f"nasedge: warning: {search}: ignored: the shipped search option 'evolution' "
        f"({shipped_path('conf') / 'search' / 'evolution.yaml'}) takes the name first; rename the file"}
    assert compose([]).search.max_evaluations == 1000  # the shipped file is what composes
