"""An out-of-tree plugin package (tests/plugins/example) found through the ``nasedge.plugins`` entry points."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from nasedge.cli import main
from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.predict import create_predictor, list_predictors, predictor_class
from nasedge.predict.encodings import get_encoding, list_encodings
from nasedge.search import create_strategy, list_strategies, strategy_from_config
from nasedge.spaces import get_space, list_spaces
from nasedge.supernet import build_supernet

REPO = Path(__file__).resolve().parents[2]
SUITES = {"spaces": "tests/spaces/test_conformance.py", "search": "tests/search/test_conformance.py",
          "predict": "tests/predict/test_predictors_conformance.py"}


def test_the_plugin_adds_a_strategy_a_predictor_and_a_space_family(example_plugin):
    assert "nasedge_example_plugin" not in sys.modules  # nothing is loaded before a registry is used
    assert "hill_climb" in list_strategies()
    assert "nasedge_example_plugin.hill_climb" not in sys.modules  # registered by import path, imported on use
    assert create_strategy("hill_climb", batch_size=4).config.batch_size == 4
    assert list_predictors()[:4] == ["flops", "lut", "regressor", "meta"] and "power_law" in list_predictors()
    assert predictor_class("power_law").name == "power_law"
    assert "example_chain" in list_spaces() and "example_chain" in list_encodings()
    space = get_space("example_chain")
    assert space.family == "example_chain" and get_encoding(space).name == "example_chain"
    assert build_supernet(space).space is space
    archs = space.sample_many(4, 0)
    p = create_predictor("power_law", space).fit(archs, [1.0, 2.0, 3.0, 4.0])
    assert p.predict(archs).shape == (4,)


def test_without_the_plugin_its_names_are_unknown():
    assert "hill_climb" not in list_strategies()
    with pytest.raises(NasedgeError, match="unknown search strategy 'hill_climb'; known: evolution, optuna, random"):
        create_strategy("hill_climb")
    with pytest.raises(NasedgeError, match="unknown search space 'example_chain'"):
        get_space("example_chain")


def test_compose_finds_the_plugin_yaml_and_schema(example_plugin):
    cfg = compose(["search=hill_climb", "predictor=power_law", "search_space=example_chain"])
    assert cfg.search.name == "hill_climb" and cfg.search.initial == 32 and cfg.predictor.name == "power_law"
    assert strategy_from_config(cfg.search).name == "hill_climb" and cfg.search_space.name == "example_chain"
    # the typed schema checks overrides
    with pytest.raises(NasedgeError, match="^search.initial: value many is not valid; expected an integer$"):
        compose(["search=hill_climb", "search.initial=many"])


@pytest.mark.slow  # ~25 s on a loaded machine: the supernet and the published latency predictor load first
def test_specialize_selects_the_plugin_strategy_by_name(example_plugin, tmp_path, capsys):
    # the whole job up to the search: the plugin's YAML, schema and class are what reject the option
    args = ["specialize", "--device", "titan_rtx_64", "--latency", "7ms", "--out", str(tmp_path / "out"),
            "--strategy", "hill_climb", "search.mutate_prob=2.0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("nasedge: error: search strategy 'hill_climb': option 'mutate_prob': value 2.0 is not valid; "
                   "expected a number in (0, 1]")


def _add_entry_point(site: Path, name: str, value: str) -> None:
    info = site / f"nasedge_{name}_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nasedge-{name}-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nasedge.plugins]\n{name} = {value}\n")


def test_an_entry_point_may_name_a_module_that_registers_on_import(example_plugin):
    (example_plugin / "nasedge_module_plugin.py").write_text(
        "from dataclasses import dataclass\n"
        "from nasedge.search import register_strategy\n"
        "from nasedge.search.random_search import RandomConfig, RandomStrategy\n"
        "@dataclass\n"
        "class UniformConfig(RandomConfig):\n"
        "    name: str = 'uniform'\n"
        "@register_strategy\n"
        "class UniformStrategy(RandomStrategy):\n"
        "    name, Config = 'uniform', UniformConfig\n")
    _add_entry_point(example_plugin, "module", "nasedge_module_plugin")
    assert {"hill_climb", "uniform"} <= set(list_strategies())
    assert create_strategy("uniform", batch_size=8).config.batch_size == 8
    sys.modules.pop("nasedge_module_plugin")


def test_a_broken_plugin_is_left_out_and_named(example_plugin, capsys):
    # it stopped every command, and the plugins after it were never loaded
    _add_entry_point(example_plugin, "broken", "nasedge_no_such_module:register")
    message = ("plugin 'broken' (nasedge_no_such_module:register, entry point group nasedge.plugins) failed to "
               "load: ModuleNotFoundError: No module named 'nasedge_no_such_module'")
    assert "hill_climb" in list_strategies()  # the example plugin still loads
    assert create_strategy("hill_climb").name == "hill_climb"
    with pytest.raises(NasedgeError) as exc:  # a name it would have given says why it is missing
        create_strategy("broken_climb")
    assert str(exc.value).endswith(f"({message})")
    assert main(["arch", "sample", "--space", "ofa_mbv3_cifar", "-n", "1"]) == 0
    assert capsys.readouterr().err == f"nasedge: warning: {message}\n"
    assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--strategy", "broken_climb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nasedge: warning: {message}", "nasedge: error: unknown search strategy 'broken_climb'; known: "
                   "evolution, hill_climb, optuna, random"]


def test_the_conformance_suites_cover_the_plugin(example_plugin):
    """The unchanged suites take their parameters from the registries, so an installed plugin's items are in."""
    params = {suite: runpy.run_path(str(REPO / path)) for suite, path in SUITES.items()}
    assert "example_chain" in params["spaces"]["SPACES"]
    assert ("hill_climb", {}) in params["search"]["VARIANTS"]
    assert "power_law" in params["predict"]["PREDICTORS"]


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_suites(example_plugin):
    """The suites run on the plugin's items, in a process where the plugin is installed from the start."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example_plugin), str(REPO),
                                                        os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", "-k",
                          "example_chain or hill_climb or power_law", *SUITES.values()],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "\n43 passed" in run.stdout  # spaces 18, search 18, predict 7


def test_registering_the_plugin_does_not_import_torch(example_plugin):
    """A plugin registers while every command checks its input: register_supernet must not cost torch's import."""
    code = ("import sys\nfrom nasedge.search import list_strategies\nfrom nasedge.supernet import build_supernet\n"
            "assert 'hill_climb' in list_strategies()\nprint('torch' in sys.modules)\n"
            "from nasedge.supernet import OFAMobileNetV3Supernet\nprint(OFAMobileNetV3Supernet.__name__)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(example_plugin), str(REPO)])}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["False", "OFAMobileNetV3Supernet"]


def test_a_plugin_device_is_a_device_like_the_shipped_ones(example_plugin, capsys):
    # device=example-board composed, but --device example-board was "unknown device" and it was not listed
    from nasedge.cli import main
    from nasedge.measure.device import PLUGIN, device_source, get_device, list_devices

    assert "example-board" in list_devices() and device_source("example-board") == PLUGIN
    device = get_device("example-board")
    assert device.measurable and device.summary() == "onnxruntime t1 b1 fp32"
    assert main(["devices", "--json"]) == 0 and '"name": "example-board"' in capsys.readouterr().out
    assert main(["devices", "add", "example-board", "--runtime", "torch"]) == 2
    assert "device 'example-board' is shipped with a plugin; choose another name" in capsys.readouterr().err
    assert main(["devices", "remove", "example-board"]) == 2
    assert "shipped with a plugin (read-only)" in capsys.readouterr().err
