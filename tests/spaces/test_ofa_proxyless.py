"""The OFA-ProxylessNAS family through the plugin path: its YAML, the stage of fixed depth, and the parts that read
a space through its registries (latency encoding, predictors, search strategies). The family also runs through
the spaces conformance suite (tests/spaces/test_conformance.py), and against OFA's own code in
tests/supernet/test_ofa_proxyless.py."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from nasedge.arch import Arch
from nasedge.cost import arch_cost, layer_cost
from nasedge.errors import ArchError, NasedgeError
from nasedge.latency_table import FORMAT
from nasedge.predict import create_predictor
from nasedge.predict.encodings import get_encoding
from nasedge.predict.metrics import quality
from nasedge.resources import shipped_path
from nasedge.search import create_strategy, list_strategies
from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
from nasedge.spaces import get_space, load_space

SPACE = get_space("ofa_proxyless_w1.3")


def test_geometry_of_the_published_space():
    layers = SPACE.layers(SPACE.max_arch())
    assert [(x.kind, x.in_channels, x.out_channels, x.act) for x in layers[:3]] == [
        ("stem", 3, 40, "relu6"), ("first_block", 40, 24, "relu6"), ("block", 24, 32, "relu6")]
    assert all(x.se == 0 for x in layers)
    last_block, head = layers[-2], layers[-1]
    assert (last_block.stage, last_block.slot, last_block.in_channels, last_block.out_channels) == (5, 20, 248, 416)
    assert (head.in_channels, head.hidden, head.mix, head.output_size) == (416, 1664, 0, 1)
    assert [x.output_size for x in layers[:2]] == [112, 112] and head.input_size == 7


def test_the_last_stage_has_one_block_whatever_is_asked():
    assert SPACE.stage_depth_choices == ((2, 3, 4),) * 5 + ((1,),)
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(20)]
    archs += [SPACE.mutate(a, rng, prob=1.0) for a in archs] + [SPACE.crossover(archs[0], archs[1], rng)]
    assert {a.depth[-1] for a in archs} == {1} and {SPACE.min_arch().depth[-1], SPACE.max_arch().depth[-1]} == {1}
    m = SPACE.max_arch()
    with pytest.raises(ArchError) as e:
        SPACE.validate(Arch(SPACE.name, m.kernel, m.expand, (*m.depth[:-1], 2), m.resolution))
    assert e.value.field == "depth[5]" and e.value.allowed == [1]
    assert SPACE.restrict(depth=[3, 4]).stage_depth_choices[-1] == (1,)


def test_yaml_of_the_family_refuses_what_it_does_not_have(tmp_path):
    data = yaml.safe_load((shipped_path("search_spaces") / "ofa_proxyless_w1.3.yaml").read_text())
    for change, message in [
        (lambda d: d["stages"][0].update(se=True), "field 'stages[0].se': value True"),
        (lambda d: d.update(feature_mix_width=1280), "field 'feature_mix_width': value 1280"),
        (lambda d: d["stages"][5].update(depth=5), "field 'stages[5].depth': value 5"),
        (lambda d: d["stem"].update(act="h_swish"), "field 'stem.act': value 'h_swish'"),
        (lambda d: d.update(bn_eps=0), "field 'bn_eps': value 0"),
        (lambda d: d["stages"][1].pop("width"), "field 'stages[1].width': missing (the field is required)"),
    ]:
        bad = yaml.safe_load(yaml.safe_dump(data))
        change(bad)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(NasedgeError, match=re.escape(message)):
            load_space(path)


def test_latency_encoding_is_the_spaces_own_layout():
    enc = get_encoding(SPACE)
    archs = SPACE.sample_many(30, 4)
    np.testing.assert_array_equal(enc.onehot(archs), SPACE.encode(archs, "onehot"))
    feats = enc.features(archs)
    assert np.all(np.isfinite(feats))
    np.testing.assert_array_equal(feats[:, enc.feature_names.index("macs")],
                                  [arch_cost(a, SPACE).macs for a in archs])


def _proxy_case():
    archs = SPACE.sample_many(60, 9)
    return archs, ProxyLatency(SPACE)(archs)


@pytest.mark.parametrize("name", ["flops", "regressor", "lut", "meta"])
def test_latency_predictors_fit_the_space(name):
    archs, ms = _proxy_case()
    options = {}
    if name == "lut":  # a table over every part of the walk (analytic here: what measure_lookup_table would fill)
        keys = {layer.key: layer for r in SPACE.resolutions for opts in SPACE.layer_choices(r) for layer in opts}
        options["table"] = {"format": FORMAT, "device": "analytic", "space": SPACE.name,
                            "entries": {k: {"median_ms": layer_cost(x).macs / 1e7} for k, x in keys.items()}}
    p = create_predictor(name, SPACE, **options).fit(archs[:20], ms[:20])
    q = quality(p.predict(archs[20:]), ms[20:])
    assert q["spearman"] > 0.9, q


@pytest.mark.parametrize("name", sorted(set(list_strategies()) | {"optuna"}))
def test_search_strategies_search_the_space(name):
    accuracy, latency = ProxyAccuracy(SPACE), ProxyLatency(SPACE)
    budget = float(np.percentile(latency(SPACE.sample_many(200, 1)), 30))
    result = create_strategy(name).run(SPACE, accuracy, latency, budget, max_evaluations=40, seed=0)
    assert result.best is not None and result.best.constraint <= budget
    assert SPACE.validate(result.best.arch).depth[-1] == 1
