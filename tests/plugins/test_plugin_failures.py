"""A plugin whose own code fails: only what uses it fails, in one line naming the plugin's part."""

from __future__ import annotations

import pytest

from nasedge.cli import main
from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.predict import list_predictors
from nasedge.search import create_strategy, list_strategies
from tests.plugins.test_example_plugin import _add_entry_point

AUDIT = '''
def register():
    from nasedge.predict import register_predictor
    from nasedge.search import register_strategy

    register_strategy("audit_missing", "nasedge_example_plugin.nope:Nope")
    register_strategy("audit_req", "nasedge_example_plugin.nope:Nope", requires=("nasedge_not_installed_mod",))
    register_predictor("audit_pred", "nasedge_example_plugin.nope:NopePredictor")
'''
MISSING = ("search strategy 'audit_missing' (nasedge_example_plugin.nope:Nope, registered by plugin 'audit') cannot "
           "be loaded: ModuleNotFoundError: No module named 'nasedge_example_plugin.nope'")


@pytest.fixture
def audit_plugin(example_plugin):
    """The example plugin and a second entry point of its package registering names whose module is missing."""
    package = example_plugin / "nasedge_example_plugin"
    (package / "audit.py").write_text(AUDIT)
    (package / "conf" / "search" / "audit_missing.yaml").write_text("defaults:\n  - audit_missing_schema\n  - _self_\n")
    _add_entry_point(example_plugin, "audit", "nasedge_example_plugin.audit:register")
    return example_plugin


def test_an_entry_that_cannot_load_leaves_the_other_names_working(audit_plugin):
    assert {"audit_missing", "audit_req", "hill_climb"} <= set(list_strategies()) and "audit_pred" in list_predictors()
    cfg = compose([])  # every verb composes: the defaults do not need the broken names
    assert cfg.search.name == "evolution" and cfg.predictor.name == "meta"
    assert compose(["search=hill_climb"]).search.initial == 32
    # the loaded names' schemas still check
    with pytest.raises(NasedgeError, match="^search.initial: value many is not valid; expected an integer$"):
        compose(["search=hill_climb", "search.initial=many"])
    assert create_strategy("hill_climb", batch_size=4).config.batch_size == 4


def test_using_an_entry_that_cannot_load_is_one_line_naming_it(audit_plugin, capsys):
    for overrides in (["search=audit_missing"], ["search=audit_missing", "search.batch_size=3"]):
        with pytest.raises(NasedgeError) as exc:
            compose(overrides)
        assert str(exc.value) == MISSING
    with pytest.raises(NasedgeError, match="^search strategy audit_req needs the Python module "
                                           "'nasedge_not_installed_mod'$"):
        create_strategy("audit_req")
    for strategy, message in (("audit_missing", MISSING),
                              ("audit_req", "search strategy audit_req needs the Python module "
                                            "'nasedge_not_installed_mod'")):
        assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--strategy", strategy]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.strip().splitlines() == [f"nasedge: error: {message}"]


def test_a_default_specialize_is_not_stopped_by_an_entry_it_does_not_use(audit_plugin, tmp_path, capsys):
    # the input checks compose the defaults; a bad value of the default strategy is what ends the run
    args = ["specialize", "--device", "cpu", "--latency", "1.3ms", "--out", str(tmp_path / "out"),
            "search.mutate_prob=2.0"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "nasedge: error: search strategy 'evolution': option 'mutate_prob': value 2.0 is not valid; "
        "expected a number in (0, 1]"]


@pytest.mark.parametrize("overrides", [[], ["search.batch_size=3"]])  # composed by Hydra / read by the pre-check
def test_a_plugin_yaml_that_does_not_parse_is_one_line_naming_file_and_line(example_plugin, capsys, overrides):
    path = example_plugin / "nasedge_example_plugin" / "conf" / "search" / "hill_climb.yaml"
    path.write_text("defaults:\n  - hill_climb_schema\n  - _self_\n\nbatch_size: [4\ninitial: 32\n")
    message = (f"{path}: invalid YAML at line 6, column 8: expected ',' or ']', but got ':' "
               f"(while parsing a flow sequence)")
    with pytest.raises(NasedgeError) as exc:
        compose(["search=hill_climb", *overrides])
    assert str(exc.value) == message
    assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--strategy", "hill_climb", *overrides]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines() == [f"nasedge: error: {message}"]


def test_a_plugin_yaml_with_an_unknown_key_names_file_and_key(example_plugin):
    path = example_plugin / "nasedge_example_plugin" / "conf" / "search" / "hill_climb.yaml"
    original = path.read_text()
    path.write_text(original + "batch_sise: 3\n")
    with pytest.raises(NasedgeError) as exc:
        compose(["search=hill_climb"])
    assert str(exc.value) == (f"{path}: unknown key 'batch_sise'; did you mean 'batch_size'? known: batch_size, "
                              f"initial, max_evaluations, max_proposals, mutate_prob, name")
    path.write_text(original.replace("initial: 32", "initial: many"))
    with pytest.raises(NasedgeError, match=f"^{path}: search.initial: Value 'many' of type 'str' could not be "
                                           f"converted to Integer$"):
        compose(["search=hill_climb"])


BOOM = '''
from nasedge.atomic import atomic_write_text
from nasedge_example_plugin.chain import ChainSpace


def register():
    from nasedge.spaces import register_family

    register_family("boom_chain", "nasedge_example_plugin.boom:BoomSpace")


class BoomSpace(ChainSpace):
    def sample(self, rng=None):
        if self.name == "boom_nasedge":  # nasedge's own code fails (an AttributeError before it writes anything)
            return atomic_write_text("unused", 4)
        return {"widths": [8]}["depth"]  # the plugin's own bug
'''


@pytest.fixture
def boom_plugin(example_plugin):
    """A space family whose ``sample`` fails: in the plugin's code (boom_chain), or in nasedge's (boom_nasedge)."""
    package = example_plugin / "nasedge_example_plugin"
    (package / "boom.py").write_text(BOOM)
    chain = (package / "search_spaces" / "example_chain.yaml").read_text()
    for name in ("boom_chain", "boom_nasedge"):
        (package / "search_spaces" / f"{name}.yaml").write_text(
            chain.replace("name: example_chain", f"name: {name}").replace("family: example_chain", "family: boom_chain"))
    _add_entry_point(example_plugin, "boom", "nasedge_example_plugin.boom:register")
    return package


def test_an_exception_in_plugin_code_is_one_line_naming_the_plugin(boom_plugin, capsys):
    assert main(["arch", "sample", "--space", "boom_chain", "-n", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines() == [
        f"nasedge: error: plugin 'boom' failed: KeyError: 'depth' (in sample, {boom_plugin / 'boom.py'}:16)"]


def test_an_exception_raised_by_nasedge_keeps_its_traceback_under_a_plugin(boom_plugin):
    with pytest.raises(AttributeError, match="encode"):  # a bug of nasedge's: not the plugin's
        main(["arch", "sample", "--space", "boom_nasedge", "-n", "1"])


def test_an_exception_in_plugin_code_under_ray_comes_back_as_the_same_one_line(boom_plugin):
    """Ray sends an exception back without its traceback, which named the plugin: the worker names it first."""
    from nasedge.search.ray_evaluation import _call
    from nasedge.spaces import get_space

    with pytest.raises(NasedgeError) as exc:
        _call(lambda arch: get_space("boom_chain").sample(), None)  # what a Ray worker runs for each arch
    assert str(exc.value) == f"plugin 'boom' failed: KeyError: 'depth' (in sample, {boom_plugin / 'boom.py'}:16)"
    with pytest.raises(AttributeError):  # nasedge's own failure stays what it is, with its traceback
        _call(lambda arch: get_space("boom_nasedge").sample(), None)
