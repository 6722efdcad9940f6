"""Every YAML of every config group in conf/ against its schema dataclass (the defaults' drift test).

A YAML named ``default`` or after its schema (``evolution.yaml`` extending ``evolution_schema``) spells out
that schema's defaults for users to read: it must compose to exactly the dataclass's defaults, so the
dataclass stays the one source of a default. Every other YAML (a preset: a device, a dataset, a training
recipe, an experiment) must compose into its schema's types.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from omegaconf import OmegaConf

from nasedge.config import compose, register_configs
from nasedge.errors import NasedgeError
from nasedge.resources import shipped_path

CONF = shipped_path("conf")
# conf/device/*.yaml: every one is composed and validated by tests/measure/test_device.py
ENTRIES = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml") if p.parent.name != "device")


def _schema(group: str, name: str) -> str | None:
    """The ``*_schema`` entry a YAML extends (None: no schema, e.g. an experiment)."""
    text = yaml.safe_load((CONF / group / f"{name}.yaml").read_text()) or {}
    return next((d for d in text.get("defaults", []) if isinstance(d, str) and d.endswith("_schema")), None)


def _schema_class(group: str, schema: str) -> type:
    from hydra.core.config_store import ConfigStore

    register_configs()
    return OmegaConf.get_type(ConfigStore.instance().load(f"{group}/{schema}.yaml").node)


def test_every_group_yaml_is_found():
    groups = {group for group, _ in ENTRIES}
    assert {"data", "predictor", "search", "service", "specialize", "supernet", "train"} <= groups


@pytest.mark.parametrize("group, name", ENTRIES)
def test_yaml_composes_into_its_schema(group, name):
    cfg = compose([f"{group}={name}"])
    schema = _schema(group, name)
    if schema is None:  # an experiment: every group it touches still composes into its schema
        assert group == "experiment", f"conf/{group}/{name}.yaml extends no *_schema"
        for section in ("supernet", "data", "train", "search", "predictor", "specialize", "service"):
            assert dataclasses.is_dataclass(OmegaConf.to_object(cfg[section])), section
        return
    typed = OmegaConf.to_object(cfg[group])
    assert isinstance(typed, _schema_class(group, schema))
    if name == "default" or schema == f"{name}_schema":
        # the YAML spells out the schema's defaults: they must not drift from the dataclass
        assert typed == _schema_class(group, schema)(), f"conf/{group}/{name}.yaml differs from {schema}'s defaults"


@pytest.mark.parametrize("overrides, message", [
    (["search.max_evaluatons=10"], "unknown configuration key 'search.max_evaluatons'; did you mean "
                                   "'search.max_evaluations'\\? known: search.max_evaluations, "),
    # a group's option is named as the flag choosing it names it (--strategy, --space), not "search option"
    (["search=evolutoin"], "unknown search strategy 'evolutoin'; did you mean 'evolution'\\? known: evolution, optuna"),
    (["search=nope"], "^unknown search strategy 'nope'; known: evolution, optuna, random"),
    (["search_space=ofa_mbv3_cifr"], "^unknown search space 'ofa_mbv3_cifr'; did you mean 'ofa_mbv3_cifar'\\?"),
    (["data=cifar11"], "^unknown data option 'cifar11'; did you mean 'cifar10'\\?"),
    (["seeed=1"], "unknown configuration key 'seeed'; did you mean 'seed'\\?"),
    (["data.recalibration_imgs=1"], "did you mean 'data.recalibration_images'\\?"),
    (["device=cpu", "device.measure.protocol.group_sise=2"], "did you mean 'device.measure.protocol.group_size'\\?"),
    (["search=optuna", "search.samplr=tpe"], "did you mean 'search.sampler'\\?"),
    (["device=titan_rtx_64", "device.measure.threads=2"], "^override 'device.measure.threads=2': device titan_rtx_64 "
                                                          "is predict-only"),
    # an added key nothing reads is a typo too; Hydra's own settings do nothing in nasedge
    (["+search.max_evaluatons=10"], "unknown configuration key 'search.max_evaluatons'; did you mean "
                                    "'search.max_evaluations'\\?"),
    (["+foo=1"], "unknown configuration key 'foo'"),
    (["+x.y=1"], "unknown configuration key 'x.y'"),
    (["hydra.run.dir=/tmp/x"], "override 'hydra.run.dir=/tmp/x': Hydra's own settings have no effect in nasedge"),
    # what every verb reads cannot be deleted (it failed inside Hydra, or after the search: a required field)
    (["~seed=0"], "override '~seed=0': 'seed' cannot be deleted"),
    (["~specialize=default"], "'specialize' cannot be deleted"),
    (["~search.name"], "'search.name' cannot be deleted"),
    (["train.phases[0].epochs=3"], "write a list item's key with dots \\(train.phases.0.epochs=...\\)"),
])
def test_override_typos_name_the_closest_valid_key_without_importing_torch(overrides, message):
    import subprocess
    import sys

    code = ("import sys; from nasedge.config import check_overrides; from nasedge.errors import NasedgeError\n"
            f"try: check_overrides({overrides!r})\nexcept NasedgeError as e: print(e)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    import re

    assert re.search(message, out[0]) and out[1] == "False", out


def test_composing_and_checking_every_value_does_not_import_torch():
    """A bad value is found after composing, by the schemas' checks: none of them may wait 1-2 s for torch."""
    import subprocess
    import sys

    code = ("import sys\nfrom nasedge.config import compose\n"
            "cfg = compose(['experiment=cifar10_ofa', 'data.image_size=-3'])\n"
            "from nasedge.data import DataConfig\nfrom nasedge.specialize.config import SpecializeConfig\n"
            "from nasedge.errors import NasedgeError\n"
            "for check in (DataConfig(**cfg.data).check, SpecializeConfig(formats=['onnx', 'gif']).check):\n"
            "    try: check()\n"
            "    except NasedgeError as e: print(e)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("data.image_size: value -3") and "formats" in out[1] and out[2] == "False", out


@pytest.mark.parametrize("overrides", [
    ["experiment=cifar10_ofa", "train.max_minutes=9"], ["search=optuna", "search.sampler=tpe"],
    ["data=cifar10_folder", "data.path=/x"], ["search_space=ofa_mbv3_tiny", "train=tiny"],
    ["device=cpu", "+device.measure.protocol.tolerance=0.02"],
    ["device=cpu-ort-t1", "device.measure.threads=2"], ["specialize.formats=[torch,onnx]"],
    ["device='cpu-ort-t1'", "device.measure.threads=2"], ["device=cpu-ort-t1", "~device.measure.threads"],
])
def test_valid_overrides_pass_the_check(overrides):
    from nasedge.config import check_overrides, compose

    check_overrides(overrides)
    compose(overrides)  # and Hydra agrees


def test_an_unknown_key_inside_an_override_value_is_named():
    from nasedge.errors import NasedgeError

    with pytest.raises(NasedgeError, match=r"^override train.phases=...: unknown key 'foo' in its value \(a PhaseConfig\)$"):
        compose(["search_space=ofa_mbv3_tiny", "train=tiny", "train.phases=[{name: x, epochs: 1, foo: 2}]"])


@pytest.mark.parametrize("overrides, message", [
    # OmegaConf's words ("Invalid value assigned: str is not a ListConfig, list or tuple.", "field
    # 'search.max_evaluations' is not Optional", "Value 'abc' ... could not be converted to Integer") named no value
    # or what the key takes
    (["specialize.formats=onnx"], "specialize.formats: value onnx is not valid; expected a list of strings, e.g. "
                                  "specialize.formats=[onnx]"),
    (["search.max_evaluations=null"], "search.max_evaluations: value null is not valid; expected an integer"),
    (["search.max_evaluations=abc"], "search.max_evaluations: value abc is not valid; expected an integer"),
    (["specialize.formats={a: 1}"], "specialize.formats: value {a: 1} is not valid; expected a list of strings"),
    (["specialize.formats=null"], "specialize.formats: value null is not valid; expected a list of strings, e.g. "
                                  "specialize.formats=[torch,onnx,tflite]"),
    (["train.max_minutes=soon"], "train.max_minutes: value soon is not valid; expected a number or null"),
    (["data.mean=[a,b,c]"], "data.mean[0]: value 'a' is not valid; expected a number"),
    (["data.mean=null"], "data.mean: value null is not valid; expected a list of 3 numbers, e.g. data.mean=["),
    (["device=cpu", "device.measure=3"], "device.measure: value 3 is not valid; expected a mapping of keys to values "
                                         "or null, e.g. device.measure={name: value}"),
    # the example was the default's Python repr (train.phases=[PhaseConfig(name='full', ...)]), no override
    (["train.phases=3"], "train.phases: value 3 is not valid; expected a list of mappings of the fields of "
                         "PhaseConfig, e.g. train.phases=[{name: ...}]"),
])
def test_a_value_of_another_type_names_the_key_the_value_and_what_it_takes(overrides, message):
    from nasedge.errors import NasedgeError

    with pytest.raises(NasedgeError) as e:
        compose(overrides)
    assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)


def test_adding_a_key_that_exists_says_to_set_it():
    from nasedge.errors import NasedgeError

    with pytest.raises(NasedgeError, match=r"^override '\+seed=...': 'seed' exists; set it without the '\+' \(seed=...\)$"):
        compose(["+seed=3"])


@pytest.mark.parametrize("argv, name", [
    # numpy's legacy generators (optuna's samplers) take seeds below 2**32 only; refused before any work
    (["specialize", "--device", "titan_rtx_64", "--latency", "7ms", "--strategy", "optuna", "seed=4294967296"], "seed"),
    (["arch", "sample", "--space", "ofa_mbv3_cifar", "seed=4294967296"], "seed"),
    (["arch", "sample", "--space", "ofa_mbv3_cifar", "--seed", "4294967296"], "--seed"),
    (["arch", "sample", "--space", "ofa_mbv3_cifar", "--seed", "-1"], "--seed"),
])
def test_a_seed_out_of_range_is_one_line_naming_it(nasedge_cli, tmp_path, argv, name):
    r = nasedge_cli(*argv, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"{name}: value " in r.stderr and "expected an integer from 0 to 4294967295 (2**32 - 1)" in r.stderr


def test_the_largest_seed_is_taken(nasedge_cli):
    for seed in (["--seed", "4294967295"], ["seed=4294967295"]):
        r = nasedge_cli("arch", "sample", "--space", "ofa_mbv3_cifar", *seed)
        assert r.returncode == 0, r.stderr


def test_a_seed_out_of_range_in_an_experiment_yaml_is_refused(tmp_path, monkeypatch):
    """An experiment of a plugin's conf folder sets ``seed`` where the overrides' check does not look."""
    from nasedge import config
    from nasedge.errors import NasedgeError

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "big_seed.yaml").write_text("# @package _global_\nseed: 4294967296\n")
    monkeypatch.setattr(config, "plugin_dirs", lambda kind: [tmp_path])
    with pytest.raises(NasedgeError, match=r"^seed: value 4294967296 is not valid; expected an integer from 0 to"):
        compose(["experiment=big_seed"])


def test_a_group_yaml_that_is_no_mapping_is_one_line_naming_the_file(tmp_path, monkeypatch):
    """A plugin's search YAML holding a list composed, and the verb failed after loading the supernet."""
    from nasedge import config
    from nasedge.errors import NasedgeError

    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "listed.yaml").write_text("- a\n- b\n")
    monkeypatch.setattr(config, "plugin_dirs", lambda kind: [tmp_path])
    with pytest.raises(NasedgeError, match=r"listed.yaml: expected a mapping of configuration keys, got list$"):
        compose(["search=listed"])


@pytest.mark.parametrize("text", ["- a\n- b\n", ""])
def test_a_broken_device_yaml_of_the_user_is_named_under_an_override_too(nasedge_cli, nasedge_home, tmp_path, text):
    (nasedge_home / "conf" / "device").mkdir(parents=True)
    (nasedge_home / "conf" / "device" / "b.yaml").write_text(text)
    for extra in ([], ["device.measure.threads=1"]):  # with the override: a TypeError, or "unknown key"
        r = nasedge_cli("measure", "--device", "b", "--num-archs", "1", "--out", str(tmp_path / "m.csv"), *extra)
        assert r.returncode == 2 and "b.yaml: expected a mapping" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_user_device_gets_the_same_help_with_overrides_as_a_shipped_one(nasedge_cli, nasedge_home, tmp_path):
    assert nasedge_cli("devices", "add", "b", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    out = str(tmp_path / "m.csv")
    r = nasedge_cli("measure", "--device", "b", "--num-archs", "1", "--out", out, "device.measure.threds=2")
    assert r.returncode == 2 and "did you mean 'device.measure.threads'?" in r.stderr, r.stderr
    # a bad value an override gave is not the file's fault
    r = nasedge_cli("measure", "--device", "cpu-ort-t1", "--num-archs", "1", "--out", out, "device.where=mars")
    assert r.returncode == 2 and "(the device as the overrides device.where=mars change it)" in r.stderr, r.stderr


def test_a_runtime_option_or_measurer_argument_the_device_yaml_leaves_out_can_be_overridden(nasedge_home):
    from nasedge.config import compose_with_device
    from nasedge.errors import NasedgeError

    # onnxruntime declares `optimization` (Runtime.options); cpu-ort-t1.yaml does not write it
    _, device = compose_with_device("cpu-ort-t1", ["device.measure.optimization=basic"])
    assert device.config.measure["optimization"] == "basic" and device.config.measure["threads"] == 1
    with pytest.raises(NasedgeError, match="^unknown configuration key 'device.measure.optimizaton'; did you mean "
                                           "'device.measure.optimization'\\? known: .*device.measure.providers"):
        compose(["device=cpu-ort-t1", "device.measure.optimizaton=basic"])
    # a user's device without `batch` (the measurer's default): set like any other key of it
    (nasedge_home / "conf" / "device").mkdir(parents=True)
    (nasedge_home / "conf" / "device" / "b.yaml").write_text(
        "name: b\nwhere: local\nmeasure:\n  _target_: nasedge.measure.RuntimeMeasurer\n  runtime: onnxruntime\n"
        "  threads: 1\n")
    _, device = compose_with_device("b", ["device.measure.batch=2"])
    assert device.config.measure["batch"] == 2
    # set to the default that applies anyway it changes nothing: the same device, not one renamed without its profiles
    _, own = compose_with_device("b", [])
    _, same = compose_with_device("b", ["device.measure.batch=1"])
    assert (same.name, same.settings) == (own.name, own.settings) == ("b", own.settings)
    assert device.name != "b"  # where it measures otherwise, it is another device
    # b.yaml has no protocol: set, to its default or not, it adds one, but how long and how many at once it times
    # is no part of what names the device (nasedge.measure.device._identity): the same name, the same profiles
    for protocol in ("device.measure.protocol.max_seconds=10.0", "device.measure.protocol.group_size=4"):
        _, timed = compose_with_device("b", [protocol])
        assert (timed.name, timed.settings) == ("b", own.settings)
    with pytest.raises(NasedgeError, match="^unknown configuration key 'device.measure.bacth'; did you mean "
                                           "'device.measure.batch'\\?"):
        compose(["device=b", "device.measure.bacth=2"])


def test_a_protocol_setting_its_device_yaml_leaves_out_is_set_without_a_plus():
    """device.measure.protocol.tolerance=0.02 said "known: device.measure.protocol.group_size" (the YAML's keys),
    hiding the protocol's real settings."""
    from nasedge.errors import NasedgeError

    assert compose(["device=cpu-ort-t1", "device.measure.protocol.tolerance=0.02"]).device.measure.protocol == {
        "group_size": 20, "tolerance": 0.02}
    with pytest.raises(NasedgeError, match="^unknown configuration key 'device.measure.protocol.tolerence'; did you "
                                           "mean 'device.measure.protocol.tolerance'\\? known: .*max_seconds"):
        compose(["device=cpu-ort-t1", "device.measure.protocol.tolerence=0.02"])


def test_a_measurer_argument_an_override_sets_wrong_is_blamed_on_the_override():
    """device.measure.threads=abc was said to be wrong in conf/device/cpu-ort-t1.yaml, which says threads: 1."""
    from nasedge.config import compose_with_device
    from nasedge.errors import NasedgeError

    pytest.importorskip("onnxruntime")
    _, device = compose_with_device("cpu-ort-t1", ["device.measure.threads=abc"])
    with pytest.raises(NasedgeError, match="^override device.measure.threads=abc of conf/device/cpu-ort-t1.yaml: "
                                           "measure: .*'threads': value 'abc' is not valid"):
        device.measurer()


def test_deleting_a_key_set_to_null_is_said_as_such():
    # Hydra said "'device.measure.threads' does not exist" of a key the device's YAML sets to null
    with pytest.raises(NasedgeError, match=r"^override '~device.measure.threads': device.measure.threads is null, "
                                           r"which Hydra cannot delete .*; set it instead"):
        compose(["device=cpu", "~device.measure.threads"])
    with pytest.raises(NasedgeError, match=r"'device.measure.nope' does not exist"):  # a key that is not there
        compose(["device=cpu", "~device.measure.nope"])
    assert "batch" not in compose(["device=cpu", "~device.measure.batch"]).device.measure  # one that is not null
