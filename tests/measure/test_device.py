"""Device configs: every shipped one loads and validates; local devices measure; errors name the problem."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.measure import Device, get_device, list_devices, read_measurements_csv, write_measurements_csv
from nasedge.spaces import get_space

REQUIRED = ["cpu", "cpu-ort-t1", "cpu-ort-t2", "cpu-torch-t1", "cpu-litert-t1", "jetson-orin", "h200-torch-fp32-b1",
            "h200-torch-fp16-b1", "h200-torch-fp16-b64", "titan_rtx_64", "2080ti_1", "v100_64", "raspi4", "pixel2"]


def test_required_devices_exist():
    assert set(REQUIRED) <= set(list_devices())


@pytest.mark.parametrize("name", list_devices())
def test_every_device_config_loads_and_composes(name):
    device = get_device(name)
    assert device.name == name and device.description
    composed = compose([f"device={name}"]).device  # through Hydra with the typed schema
    again = Device.from_config(OmegaConf.to_container(composed, resolve=True), "composed")
    assert again.config == device.config
    if device.measurable:
        assert device.config.measure["_target_"] == "nasedge.measure.RuntimeMeasurer"
        assert device.summary().startswith(device.config.measure["runtime"])
    else:
        assert device.data and all(d.dataset.startswith("help/") for d in device.data)
        with pytest.raises(NasedgeError, match=f"device {name} is predict-only .*cannot be measured"):
            device.measure([get_space("ofa_mbv3_w1.2").min_arch()])


def test_help_devices_cover_every_published_column(shared_datasets):
    import csv

    root = shared_datasets / "latency" / "help"
    if not root.is_dir():
        pytest.skip("shared HELP datasets not present")
    for ds in ("ofa", "fbnet", "nasbench201"):
        with open(root / ds / "latency_ms.csv") as f:
            columns = next(csv.reader(f))[1:]
        for column in columns:
            assert {"dataset": f"help/{ds}", "column": column} in [vars(d) for d in get_device(column).data]


def test_local_device_measures_and_round_trips(tmp_path, device_config):
    device = Device.from_config(device_config("toy"))
    archs = get_space("ofa_mbv3_cifar").sample_many(3, 0)
    chunks = []
    got = device.measure(archs, arch_ids=["a", "b", "c"], on_chunk=chunks.append)
    assert [m.arch for m in got] == archs and [m.arch_id for m in got] == ["a", "b", "c"]
    assert all(m.device == "toy" and m.median_ms > 0 and m.node.startswith("local:") for m in got)
    assert sum(len(c) for c in chunks) == 3
    write_measurements_csv(tmp_path / "m.csv", got)
    back = read_measurements_csv(tmp_path / "m.csv")
    assert [(m.arch, m.arch_id, m.device, m.node) for m in back] == [(m.arch, m.arch_id, m.device, m.node) for m in got]
    assert [m.median_ms for m in back] == pytest.approx([m.median_ms for m in got], rel=1e-5)


@pytest.mark.parametrize("change, needle", [
    ({"where": "phone"}, "field 'where': value 'phone'"),
    ({"measure": None}, "field 'measure'"),
    ({"measure": {"runtime": "torch"}}, "field 'measure'"),
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"name": ""}, "field 'name'"),
    ({"where": "predict-only"}, "field 'measure': value .* null for a predict-only device"),
])
def test_bad_device_config_names_the_field(device_config, change, needle):
    with pytest.raises(NasedgeError, match=needle):
        Device.from_config({**device_config(), **change}, "mine.yaml")


def test_bad_measure_section_fails_when_built(device_config):
    with pytest.raises(NasedgeError, match="cannot import 'nasedge.nothing.Here'"):
        Device.from_config({**device_config(), "measure": {"_target_": "nasedge.nothing.Here"}}).measurer()
    with pytest.raises(NasedgeError, match="unknown runtime 'tvm'"):
        Device.from_config(device_config(runtime="tvm")).measurer()
    with pytest.raises(NasedgeError, match="measure.protocol: unknown field 'rounds'"):
        Device.from_config({**device_config(), "measure": {**device_config()["measure"], "protocol": {"rounds": 2}}})


@pytest.mark.parametrize("cores, message", [(1, "expected a list of core numbers"), ("0", "expected a list"),
                                             ([0.5], "expected a list"), ([0], "2 threads need as many cores")])
def test_bad_cores_are_one_line(device_config, cores, message):
    """cores: 1 gave "'int' object is not iterable"; 2 threads on 1 core flagged every result as descheduled."""
    config = device_config(threads=2, cores=cores)
    with pytest.raises(NasedgeError, match=f"field 'cores': value .* is not valid; .*{message}"):
        Device.from_config(config).measurer()


def test_a_measurer_gets_the_workloads_its_group_size_asks_for_and_must_answer_each(device_config, tmp_path,
                                                                                    monkeypatch):
    """Measurer.group_size was ignored (one workload per call); a measurer that answered fewer lost rows."""
    from nasedge.measure import Measurer
    from nasedge.measure.protocol import LatencyStats

    class Batchy(Measurer):
        group_size = 4

        def __init__(self, short: bool = False):
            self.short = short

        def measure(self, workloads, artifacts=None):
            n = len(workloads) - (1 if self.short else 0)
            return [LatencyStats(float(len(workloads)), 1.0, 1.0, 1.0, 0.0, 0.0, 1, 2, None, False, "")] * n

    module = tmp_path / "batchy_plugin.py"
    module.write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    import batchy_plugin

    batchy_plugin.Batchy = Batchy
    device = Device.from_config({"name": "batchy", "where": "local",
                                 "measure": {"_target_": "batchy_plugin.Batchy"}})
    archs = get_space("ofa_mbv3_tiny").sample_many(6, 0, unique=True)
    assert device.group_size() == 4
    assert [m.median_ms for m in device.measure(archs)] == [4.0] * 4 + [2.0] * 2
    short = Device.from_config({"name": "batchy", "where": "local",
                                "measure": {"_target_": "batchy_plugin.Batchy", "short": True}})
    with pytest.raises(NasedgeError, match="^device batchy: its measurer batchy_plugin.Batchy returned 3 results for 4 "
                                           "workloads; expected one LatencyStats per workload$"):
        short.measure(archs)


@pytest.mark.parametrize("providers, message", [("cpu", "value 'cpu' is not valid; expected a list, e.g. .cpu."),
                                                 (["gpu"], r"value \['gpu'\] is not valid; known: cpu, cuda")])
def test_bad_providers_are_named(device_config, providers, message):
    """A str was taken letter by letter ("needs the execution provider c (None)"), an unknown one as missing."""
    with pytest.raises(NasedgeError, match=f"field 'providers': {message}"):
        Device.from_config(device_config(runtime="onnxruntime", providers=providers)).measurer()


def test_unknown_device_lists_known_ones(tmp_path):
    with pytest.raises(NasedgeError, match="unknown device 'toaster'; known: .*cpu-ort-t1"):
        get_device("toaster")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(NasedgeError, match=r"bad.yaml: invalid YAML at line 2, column 1: expected ',' or ']'"):
        get_device(str(tmp_path / "bad.yaml"))  # where, as for every other YAML (it said only 'while parsing')


def test_a_device_file_that_is_no_text_or_a_folder_is_one_line(tmp_path):
    (tmp_path / "bytes.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(NasedgeError, match=r"bytes.yaml: not UTF-8 text \(byte 0xff at offset 0\)"):
        get_device(str(tmp_path / "bytes.yaml"))
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(NasedgeError, match="dir.yaml: is a folder, expected a device YAML file"):
        get_device(str(tmp_path / "dir.yaml"))


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_machine_check_probes_around_each_measurement(tmp_path, device_config, runtime):
    config = device_config("checked", runtime=runtime)
    # what may flag these archs noisy is the probe alone: a single stalled run on a loaded machine must not
    config["measure"]["protocol"].update(probe_s=0.01, probe_tolerance=10.0, probe_wait_s=1.0, max_spread=1e9,
                                         max_rse=1e9)
    device = Device.from_config(config)
    got = device.measure(get_space("ofa_mbv3_cifar").sample_many(2, 1), arch_ids=["a", "b"])
    assert all(m.stats.probe_ms > 0 and not m.noisy for m in got)
    write_measurements_csv(tmp_path / "m.csv", got)
    assert [m.stats.probe_ms for m in read_measurements_csv(tmp_path / "m.csv")] == pytest.approx(
        [m.stats.probe_ms for m in got], rel=1e-5)
    (unchecked,) = Device.from_config(device_config("plain", runtime=runtime)).measure(
        get_space("ofa_mbv3_cifar").sample_many(1, 1))
    assert unchecked.stats.probe_ms is None


def test_device_overrides_are_split_once_and_refused_for_a_device_file(tmp_path):
    from nasedge.measure.device import device_file, split_device_overrides

    assert split_device_overrides(["device.where=ray", "+device.measure.x=1", "~device.resource", "seed=1",
                                   "search.device_x=2"]) == (
        ["device.where=ray", "+device.measure.x=1", "~device.resource"], ["seed=1", "search.device_x=2"])
    mine = tmp_path / "mine.yaml"
    assert device_file(str(mine)) == mine and device_file("cpu").name == "cpu.yaml"
    with pytest.raises(NasedgeError, match=r"override 'device.where=ray': device overrides apply to named devices; "
                                           r"edit .*mine.yaml instead"):
        device_file(str(mine), ["seed=1", "device.where=ray"])


def test_a_composed_device_is_validated_like_its_file():
    composed = OmegaConf.to_container(compose(["device=cpu", "device.where=phone"]).device, resolve=True)
    with pytest.raises(NasedgeError, match="^conf/device/cpu.yaml: field 'where': value 'phone' is not valid"):
        get_device("cpu", composed)
    fine = OmegaConf.to_container(compose(["device=cpu", "+device.measure.protocol.tolerance=0.02"]).device)
    assert get_device("cpu", fine).config.measure["protocol"]["tolerance"] == 0.02
    with pytest.raises(NasedgeError, match="unknown device 'toaster'"):
        get_device("toaster", fine)


def test_a_device_changed_by_overrides_has_a_name_of_its_own():
    # its profile, measurements and verification journal are kept by name: the settings the overrides change must
    # not use the named device's (specialize predicted with cpu's batch-1 profile at batch 8), nor lend it theirs
    def composed(*overrides):
        node = compose(["device=cpu-ort-t1", *overrides]).device
        return get_device("cpu-ort-t1", OmegaConf.to_container(node, resolve=True))

    two = composed("device.measure.threads=2")
    assert two.name.startswith("cpu-ort-t1+") and len(two.name) == len("cpu-ort-t1+") + 8
    assert two.resource == "device:cpu-ort-t1" and two.config.measure["threads"] == 2  # a Ray node routes by it
    assert composed("device.measure.threads=2").name == two.name  # the same settings: the same name, every run
    assert composed("device.measure.threads=2", "device.measure.batch=8").name not in (two.name, "cpu-ort-t1")
    assert composed("device.description=mine").name == "cpu-ort-t1"  # words only
    assert composed("+device.measure.protocol.max_seconds=1").name == "cpu-ort-t1"  # how long, not what, it times
    assert composed("device.measure.threads=1").name == "cpu-ort-t1"  # the value it has already
    assert composed().name == "cpu-ort-t1"
    assert composed("device.where=ray", "device.resource=device:lab-3").resource == "device:lab-3"  # as given
    assert composed("device.name=lab-board", "device.measure.threads=2").name == "lab-board"  # a name of its own
    # renamed onto another device: that device's profile (onnxruntime on every core) would predict this one
    with pytest.raises(NasedgeError, match="device.name=cpu: 'cpu' is another device, measured with other settings"):
        composed("device.name=cpu")


def test_user_devices_load_and_compose_like_shipped_ones(nasedge_home):
    from nasedge.config import compose_with_device
    from nasedge.measure.device import USER, device_source

    (nasedge_home / "conf" / "device").mkdir(parents=True)
    (nasedge_home / "conf" / "device" / "board.yaml").write_text(
        "defaults: [device_schema, _self_]\nname: board\ndescription: mine\nwhere: local\nspace: ofa_mbv3_tiny\n"
        "measure: {_target_: nasedge.measure.RuntimeMeasurer, runtime: onnxruntime, threads: 1, protocol: {}}\n")
    assert "board" in list_devices() and device_source("board") == USER and device_source("cpu") == "shipped"
    cfg, device = compose_with_device("board", ["+device.measure.protocol.tolerance=0.02"])
    assert device.config.space == "ofa_mbv3_tiny" and device.config.measure["protocol"] == {"tolerance": 0.02}
    assert cfg.device.name == "board" and get_device("board").config.measure["threads"] == 1
    (nasedge_home / "conf" / "device" / "other.yaml").write_text("name: board\nwhere: ray\n")
    with pytest.raises(NasedgeError, match="other.yaml: field 'measure'"):
        get_device("other")


@pytest.mark.parametrize("measure, missing", [
    ({"runtime": "torch", "device": "cuda", "precision": "fp16"}, "runtime torch needs a CUDA GPU"),
    ({"runtime": "onnxruntime", "providers": ["tensorrt", "cpu"]}, "runtime onnxruntime needs the execution "
                                                                   "provider tensorrt"),
    ({"runtime": "tvm"}, "unknown runtime 'tvm'"),
])
def test_a_device_whose_runtime_or_hardware_is_missing_is_unavailable(measure, missing):
    import torch

    if measure.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    device = Device.from_config({"name": "gone", "where": "local",
                                 "measure": {"_target_": "nasedge.measure.RuntimeMeasurer", "threads": 1, **measure}})
    assert missing in device.unavailable()
    with pytest.raises(NasedgeError, match=f"^device gone cannot be measured here: {missing}"):
        device.check_available()
    assert Device.from_config({"name": "far", "where": "ray", "measure": {
        "_target_": "nasedge.measure.RuntimeMeasurer", **measure}}).unavailable() is None  # its node's business
    assert get_device("cpu-ort-t1").unavailable() is None and get_device("titan_rtx_64").unavailable() is None


@pytest.mark.parametrize("name, hint, add", [("CPU", "did you mean 'cpu'?", False), ("../x", "known:", False),
                                             ("lab-board", "known:", True)])
def test_an_unknown_device_gets_the_closest_name_and_an_add_hint_only_where_it_can_be_added(name, hint, add):
    from nasedge.measure.device import device_file

    with pytest.raises(NasedgeError) as exc:
        device_file(name)
    assert str(exc.value).startswith(f"unknown device {name!r}") and hint in str(exc.value)
    assert ("nasedge devices add" in str(exc.value)) == add


def test_a_device_and_a_space_may_be_given_as_a_path(tmp_path):
    from pathlib import Path

    from nasedge.resources import shipped_path

    assert get_device(shipped_path("conf") / "device" / "cpu-ort-t1.yaml").name == "cpu-ort-t1"
    assert get_space(Path(shipped_path("search_spaces")) / "ofa_mbv3_tiny.yaml").name == "ofa_mbv3_tiny"
    (tmp_path / "s.yaml").mkdir()
    with pytest.raises(NasedgeError, match="s.yaml: is a folder, expected a search-space YAML file"):
        get_space(tmp_path / "s.yaml")
    (tmp_path / "t.yaml").write_text("family: ofa_mbv3\nstages: [1, 2\n")
    with pytest.raises(NasedgeError, match=r"t.yaml: invalid YAML at line 3, column 1: expected ',' or ']'"):
        get_space(tmp_path / "t.yaml")  # where, as a device YAML's error says
