"""`nasedge devices`: list (shipped and the user's, availability, ranges), add, show, remove."""

import json

import pytest
import yaml


def _one_line_error(r, needle):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def _rows(nasedge_cli, *flags) -> dict:
    r = nasedge_cli("devices", "--json", *flags)
    assert r.returncode == 0, r.stderr
    return {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}


def test_add_writes_a_device_the_one_loader_validates(nasedge_cli, nasedge_home):
    r = nasedge_cli("devices", "add", "my-board", "--runtime", "onnxruntime", "--threads", "2", "--batch", "4",
                    "--space", "ofa_mbv3_tiny")
    assert r.returncode == 0, r.stderr
    path = nasedge_home / "conf" / "device" / "my-board.yaml"
    assert r.stdout.startswith(f"{path}: device my-board (onnxruntime t2 b4 fp32, local)")
    data = yaml.safe_load(path.read_text())
    assert data["defaults"] == ["device_schema", "_self_"] and data["space"] == "ofa_mbv3_tiny"
    assert data["measure"] == {"_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "onnxruntime", "threads": 2,
                               "batch": 4, "precision": "fp32", "protocol": {"group_size": 1}}
    row = _rows(nasedge_cli)["my-board"]
    assert (row["source"], row["where"], row["available"], row["profiles"]) == ("user", "local", True, [])
    assert _rows(nasedge_cli)["cpu"]["source"] == "shipped"
    r = nasedge_cli("devices", "add", "far-board", "--runtime", "torch", "--where", "ray")
    assert r.returncode == 0 and "ray node with device:far-board" in r.stdout

    _one_line_error(nasedge_cli("devices", "add", "my-board", "--runtime", "torch"),
                    "device 'my-board' exists")
    assert nasedge_cli("devices", "add", "my-board", "--runtime", "torch", "--force").returncode == 0
    assert yaml.safe_load(path.read_text())["measure"]["runtime"] == "torch"
    # one thread: a profile's archs interleaved as one group (more threads or every core: one at a time)
    assert nasedge_cli("devices", "add", "my-board", "--runtime", "torch", "--threads", "1", "--force").returncode == 0
    assert yaml.safe_load(path.read_text())["measure"]["protocol"] == {"group_size": 20}
    r = nasedge_cli("devices", "remove", "my-board")
    assert r.returncode == 0 and not path.exists() and "my-board" not in _rows(nasedge_cli)


def test_a_board_added_again_with_other_settings_does_not_inherit_its_profile(nasedge_cli, nasedge_home):
    """Profiles and measurements of an earlier board of the name are moved aside (never deleted) unless the board
    comes back with the same settings: a profile of a torch board predicted an onnxruntime one, said to be good."""
    def leftovers():
        for folder, suffix in (("profiles", "json"), ("measurements", "csv")):
            (nasedge_home / folder).mkdir(exist_ok=True)
            (nasedge_home / folder / f"b@ofa_mbv3_cifar.{suffix}").write_text("fitted\n")

    add = ("devices", "add", "b", "--runtime", "torch", "--threads", "1")
    assert nasedge_cli(*add).returncode == 0
    leftovers()
    r = nasedge_cli(*add, "--force")  # the same settings: the same board, its profile stays
    assert r.returncode == 0 and "moved" not in r.stdout and (nasedge_home / "profiles" / "b@ofa_mbv3_cifar.json").exists()
    r = nasedge_cli("devices", "add", "b", "--runtime", "onnxruntime", "--threads", "2", "--force")
    assert r.returncode == 0 and "moved the profiles and measurements of an earlier board named b" in r.stdout
    retired = list((nasedge_home / "retired").iterdir())
    assert len(retired) == 1 and (retired[0] / "profiles" / "b@ofa_mbv3_cifar.json").read_text() == "fitted\n"
    assert (retired[0] / "measurements" / "b@ofa_mbv3_cifar.csv").exists()
    assert not list((nasedge_home / "profiles").iterdir()) and not list((nasedge_home / "measurements").iterdir())
    leftovers()  # removed, then added again: its settings before are not known, so its files go aside too
    assert nasedge_cli("devices", "remove", "b").returncode == 0
    r = nasedge_cli(*add)
    assert r.returncode == 0 and "moved" in r.stdout and not list((nasedge_home / "profiles").iterdir())
    assert len(list((nasedge_home / "retired").iterdir())) == 2  # within the same second too: two folders
    leftovers()  # a file broken by hand is what --force is for: replaced, its files aside as of unknown settings
    with open(nasedge_home / "conf" / "device" / "b.yaml", "a") as f:
        f.write("measure: [1\n")
    r = nasedge_cli(*add, "--force")
    assert r.returncode == 0 and "moved" in r.stdout and not list((nasedge_home / "profiles").iterdir()), r.stderr
    assert nasedge_cli("devices", "show", "b").returncode == 0


@pytest.mark.parametrize("rb", ["rb", "x.csv.y"])  # a name holding '.csv.' is no round journal
def test_a_board_removed_and_added_again_with_its_settings_keeps_what_its_files_say_it_measured(nasedge_cli,
                                                                                                  nasedge_home, rb):
    """Its YAML gone, its settings were "no longer known": the profile and measurements of a board removed and added
    back as it was went to retired/, against what `devices remove` says. The files record their settings."""
    from nasedge.measure.device import get_device
    from nasedge.spaces import get_space

    add = ("devices", "add", rb, "--runtime", "onnxruntime", "--threads", "1")
    assert nasedge_cli(*add).returncode == 0
    settings = get_device(rb).settings
    arch = json.dumps(get_space("ofa_mbv3_cifar").min_arch().to_dict()).replace('"', '""')
    profile = nasedge_home / "profiles" / f"{rb}@ofa_mbv3_cifar.json"
    csv = nasedge_home / "measurements" / f"{rb}@ofa_mbv3_cifar.csv"
    journal = nasedge_home / "measurements" / f"{rb}@ofa_mbv3_cifar.csv.{rb}.rounds.jsonl"
    for path in (profile, csv, journal):
        path.parent.mkdir(exist_ok=True)
    profile.write_text(json.dumps({"device": rb, "space": "ofa_mbv3_cifar", "predictor": "meta", "state": {},
                                   "measurements": [], "settings": settings}))
    csv.write_text(f'arch_id,device,median_ms,settings,arch\n0,{rb},1.5,{settings},"{arch}"\n')
    journal.write_text("{}\n")
    assert nasedge_cli("devices", "remove", rb).returncode == 0
    r = nasedge_cli(*add)
    assert r.returncode == 0 and "moved" not in r.stdout and profile.exists() and csv.exists() and journal.exists()
    assert nasedge_cli("devices", "remove", rb).returncode == 0
    r = nasedge_cli(*add[:-1], "2")  # other settings: aside, the journal with its CSV
    assert r.returncode == 0 and "moved" in r.stdout and not list((nasedge_home / "measurements").iterdir())
    assert not profile.exists()


def test_a_profile_measured_under_other_settings_is_marked_stale_wherever_it_is_listed(nasedge_cli, nasedge_home):
    """A YAML edited from 1 to 2 threads: specialize measured the board again, while `devices`, `devices show` and
    `predictor show` presented the 1-thread profile as the board's."""
    from dataclasses import replace

    import numpy as np

    from nasedge.measure.device import get_device
    from nasedge.predict.profile import fit_profile, save_profile
    from nasedge.spaces import get_space

    assert nasedge_cli("devices", "add", "rb", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    before = get_device("rb").settings
    archs = get_space("ofa_mbv3_cifar").sample_many(12, np.random.default_rng(0))
    profile = fit_profile("rb", "ofa_mbv3_cifar", archs, [1.0 + 0.1 * sum(a.depth) for a in archs], "flops", cv_folds=0)
    save_profile(replace(profile, settings=before))
    assert _rows(nasedge_cli)["rb"]["stale_profiles"] == {}
    path = nasedge_home / "conf" / "device" / "rb.yaml"
    path.write_text(path.read_text().replace("threads: 1", "threads: 2"))
    why = f"measured under other settings of rb ({before}, now {get_device('rb').settings})"
    assert _rows(nasedge_cli)["rb"]["stale_profiles"] == {"ofa_mbv3_cifar": why}
    table = nasedge_cli("devices").stdout
    assert "ofa_mbv3_cifar (user, stale)" in table and f"stale profile: rb ofa_mbv3_cifar: {why}" in table
    assert f"stale: {why}" in nasedge_cli("devices", "show", "rb").stdout
    shown = nasedge_cli("predictor", "show", "--device", "rb", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["stale"] == why


@pytest.mark.parametrize("args, needle", [
    (["add", "cpu", "--runtime", "onnxruntime"], "device 'cpu' is shipped with nasedge; choose another name"),
    (["add", "../up", "--runtime", "onnxruntime"], "device name '../up' is not valid; use up to 128 letters, digits "
                                                   "and . _ - (it"),  # '+' is refused below
    (["add", "b+8ba8bf1a", "--runtime", "torch"], "'+' is kept for devices changed by device.* overrides"),
    (["add", "b", "--runtime", "torch", "--description", "two\nlines"], "--description: value 'two\\nlines' is not valid"),
    (["add", "b", "--runtime", "tvm"], "--runtime: unknown runtime 'tvm'; known: litert, onnxruntime, torch"),
    (["add", "b", "--runtime", "onnxruntime", "--threads", "0"], "--threads: value 0 is not valid"),
    (["add", "b", "--runtime", "onnxruntime", "--space", "nope"], "unknown search space 'nope'"),
    (["add", "b", "--runtime", "torch", "--precision", "fp16"], "runtime torch: fp16/bf16 and cuda_graph need device"),
    (["add", "x.yaml", "--runtime", "onnxruntime"], "device name 'x.yaml' ends as a device YAML file does"),
    (["add", "device_schema", "--runtime", "onnxruntime"], "names ending in '_schema' are kept"),
    (["add", "CPU-ort-t1", "--runtime", "onnxruntime"], "differs from the existing device 'cpu-ort-t1' only in case"),
    (["remove", "x.yaml"], "`devices remove` takes a device's name, not a file ('x.yaml')"),
    (["remove", "cpu"], "device 'cpu' is shipped with nasedge (read-only)"),
    (["remove", "nope"], "unknown device 'nope'"),
    (["show", "nope"], "unknown device 'nope'"),
])
def test_bad_devices_input_is_one_line(nasedge_cli, nasedge_home, args, needle):
    _one_line_error(nasedge_cli("devices", *args), needle)
    assert not (nasedge_home / "conf").exists()


def test_unavailable_devices_are_listed_and_refused_before_work(nasedge_cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    row = _rows(nasedge_cli)["h200-torch-fp16-b1"]
    assert row["where"] == "unavailable here" and not row["available"] and "CUDA" in row["unavailable"]
    table = nasedge_cli("devices").stdout
    assert "unavailable here: h200-torch-fp16-b1" in table
    for verb in (["specialize", "--latency", "20ms"], ["measure", "--num-archs", "2", "--out", "x.csv"],
                 ["predictor", "fit"]):
        cmd = [*verb[:1], *(verb[1:2] if verb[0] == "predictor" else []), "--device", "h200-torch-fp16-b1",
               *(verb[1:] if verb[0] != "predictor" else [])]
        _one_line_error(nasedge_cli(*cmd), "device h200-torch-fp16-b1 cannot be measured here: runtime torch needs "
                                           "a CUDA GPU")


def test_ranges_and_show_predict_the_fastest_and_slowest_subnet(nasedge_cli):
    from nasedge.predict.profile import load_profile
    from nasedge.spaces import get_space

    rows = _rows(nasedge_cli, "--ranges")
    row = rows["cpu"]
    space = get_space("ofa_mbv3_cifar")
    ends = load_profile("cpu", space="ofa_mbv3_cifar").predict([space.min_arch(), space.max_arch()])
    r = row["ranges"]["ofa_mbv3_cifar"]
    assert (r["min_arch_ms"], r["max_arch_ms"]) == pytest.approx(tuple(ends))
    assert r["min_arch_ms"] <= r["sampled_min_ms"] <= r["sampled_max_ms"] <= r["max_arch_ms"] and r["source"] == "shipped"
    # a predict-only device: what its published data predicts in the configured space (as specialize uses it)
    published = rows["titan_rtx_64"]["ranges"]["ofa_mbv3_cifar"]
    assert published["source"] == "published" and 0 < published["min_arch_ms"] < published["max_arch_ms"]
    assert rows["titanx_64"]["ranges"] == {}  # FBNet data only: nothing for an OFA space
    shown = nasedge_cli("devices", "show", "cpu")
    assert shown.returncode == 0 and f"profile ofa_mbv3_cifar (shipped): predicted {ends[0]:.3g} ms" in shown.stdout
    assert "predicted latency (ms)" in nasedge_cli("devices", "--ranges").stdout


def test_a_broken_profile_is_a_warning_on_its_row_not_the_end_of_the_table(nasedge_cli, nasedge_home):
    (nasedge_home / "profiles").mkdir(parents=True, exist_ok=True)
    (nasedge_home / "profiles" / "cpu@ofa_mbv3_cifar.json").write_text("{")  # shadows the shipped one
    rows = _rows(nasedge_cli, "--ranges")
    assert rows["cpu"]["profiles"] == ["ofa_mbv3_cifar"] and rows["cpu"]["ranges"] == {}
    assert rows["titan_rtx_64"]["ranges"]["ofa_mbv3_cifar"]["source"] == "published"
    shown = nasedge_cli("devices", "show", "cpu")
    assert shown.returncode == 0 and "profile ofa_mbv3_cifar (user): unreadable" in shown.stdout
    assert "cpu@ofa_mbv3_cifar.json: invalid JSON" in shown.stderr


def test_a_slow_board_is_shown_in_plain_milliseconds():
    from nasedge.commands.devices import _ms

    assert [_ms(v) for v in (0.00441, 2.034, 999.4, 1380.2, 25000.0)] == ["0.00441", "2.03", "999", "1380", "25000"]


def test_a_device_added_with_a_space_gives_the_verbs_their_space(nasedge_cli):
    assert nasedge_cli("devices", "add", "tiny-board", "--runtime", "onnxruntime", "--threads", "1",
                       "--space", "ofa_mbv3_tiny").returncode == 0
    r = nasedge_cli("predictor", "archs", "--device", "tiny-board", "-n", "3")
    assert r.returncode == 0 and [json.loads(line)["space"] for line in r.stdout.splitlines()] == ["ofa_mbv3_tiny"] * 3
    _one_line_error(nasedge_cli("predictor", "archs", "-n", "3"), "--space: required")


def test_a_broken_device_yaml_of_the_user_hides_no_other_device(nasedge_cli, nasedge_home):
    assert nasedge_cli("devices", "add", "ok-board", "--runtime", "onnxruntime").returncode == 0
    (nasedge_home / "conf" / "device" / "bad.yaml").write_text("name: bad\nmeasure: [1,\n")  # edited by hand
    r = nasedge_cli("devices", "--json")
    assert r.returncode == 0 and "bad.yaml: invalid YAML" in r.stderr
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["ok-board"]["available"] and rows["bad"]["where"] == "unreadable" and "cpu" in rows


def test_a_device_yaml_or_profile_that_is_no_text_or_a_folder_is_marked_unreadable(nasedge_cli, nasedge_home):
    assert nasedge_cli("devices", "add", "b", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    (nasedge_home / "conf" / "device" / "bytes.yaml").write_bytes(b"\xff\xfe")
    (nasedge_home / "conf" / "device" / "dir.yaml").mkdir()
    (nasedge_home / "profiles").mkdir()
    (nasedge_home / "profiles" / "b@ofa_mbv3_cifar.json").write_bytes(b"\xff\xfe\x00\x01")
    r = nasedge_cli("devices", "--json", "--ranges")
    assert r.returncode == 0 and "bytes.yaml: not UTF-8 text" in r.stderr and "dir.yaml: is a folder" in r.stderr
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["bytes"]["where"] == rows["dir"]["where"] == "unreadable" and rows["b"]["available"]
    assert rows["b"]["ranges"] == {} and "b@ofa_mbv3_cifar.json: not UTF-8 text" in r.stderr
    shown = nasedge_cli("devices", "show", "b")
    assert shown.returncode == 0 and "profile ofa_mbv3_cifar (user): unreadable" in shown.stdout
    _one_line_error(nasedge_cli("predictor", "show", "--device", "b"), "b@ofa_mbv3_cifar.json: not UTF-8 text")
    for verb in (["devices", "show"], ["specialize", "--latency", "3ms", "--device"]):
        _one_line_error(nasedge_cli(*verb, nasedge_home / "conf" / "device" / "bytes.yaml"), "bytes.yaml: not UTF-8")
        _one_line_error(nasedge_cli(*verb, nasedge_home / "conf" / "device" / "dir.yaml"), "dir.yaml: is a folder")


def test_a_home_that_cannot_be_written_is_one_line_before_any_work(nasedge_cli, tmp_path, monkeypatch):
    """It was an OSError traceback from the atomic write (after `predictor fit` had measured for minutes)."""
    import errno
    import tempfile

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "file" / "home"))
    add = ("devices", "add", "zz", "--runtime", "onnxruntime", "--threads", "1")
    _one_line_error(nasedge_cli(*add), f"NASEDGE_HOME={tmp_path}/file/home: {tmp_path}/file exists and is not a folder")
    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "home"))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:
        m.setattr(tempfile, "TemporaryFile", read_only)
        for command in (add, ("predictor", "fit", "--device", "cpu-ort-t1")):
            _one_line_error(nasedge_cli(*command), f"NASEDGE_HOME={tmp_path}/home: cannot write in {tmp_path} "
                                                   f"(Read-only file system)")
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("key, value, needle", [
    ("threads", "one", "field 'threads': value 'one' is not valid; expected >= 1"),
    ("threads", -4, "field 'threads': value -4 is not valid"), ("batch", 1.5, "field 'batch': value 1.5 is not valid"),
    ("precision", "int3", "field 'precision': value 'int3' is not valid")])
def test_a_device_yaml_that_measure_refuses_is_listed_and_shown_as_refused(nasedge_cli, nasedge_home, key, value,
                                                                           needle):
    """The listing showed such a YAML as usable ('onnxruntime tone b1 fp32'), and `devices show PATH` refused every
    path as a device name; both now say what `measure --device` says."""
    assert nasedge_cli("devices", "add", "ok", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    folder = nasedge_home / "conf" / "device"
    data = yaml.safe_load((folder / "ok.yaml").read_text())
    shown = nasedge_cli("devices", "show", folder / "ok.yaml")  # by path: its name's profiles
    assert shown.returncode == 0 and shown.stdout.startswith(f"ok (file, {folder / 'ok.yaml'})"), shown.stderr
    data["name"], data["measure"][key] = "bad", value
    (folder / "bad.yaml").write_text(yaml.safe_dump(data))
    r = nasedge_cli("devices", "--json")
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0 and rows["bad"]["where"] == "unreadable" and needle in rows["bad"]["unavailable"]
    assert rows["ok"]["available"]
    for command in (["devices", "show", folder / "bad.yaml"], ["devices", "show", "bad"],
                    ["measure", "--device", "bad", "--num-archs", "1", "--out", nasedge_home / "m.csv"]):
        _one_line_error(nasedge_cli(*command), f"bad.yaml: measure: runtime onnxruntime: {needle}")


@pytest.mark.parametrize("target", ["os.system", "nasedge.measure.Device"])
def test_a_device_yaml_whose_target_is_no_measurer_is_listed_as_unreadable_with_why(nasedge_cli, nasedge_home, target):
    """`_target_: os.system` was listed as 'unavailable here', as if this machine lacked something; a plugin that is
    not installed here still is."""
    folder = nasedge_home / "conf" / "device"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text(f"name: bad\nwhere: local\nmeasure:\n  _target_: {target}\n")
    (folder / "gone.yaml").write_text("name: gone\nwhere: local\nmeasure:\n  _target_: not_installed_here.Board\n")
    why = f"bad.yaml: measure: field '_target_': '{target}' is not a Measurer subclass"
    rows = _rows(nasedge_cli)
    assert rows["bad"]["where"] == "unreadable" and why in rows["bad"]["unavailable"] and rows["cpu"]["available"]
    assert rows["gone"]["where"] == "unavailable here" and "cannot import 'not_installed_here.Board'" in \
        rows["gone"]["unavailable"]
    table = nasedge_cli("devices").stdout
    assert f"unreadable: bad: {folder / 'bad.yaml'}: measure:" in table and "unavailable here: gone:" in table
    for command in (["devices", "show", "bad"], ["measure", "--device", "bad", "--num-archs", "1", "--out",
                                                 nasedge_home / "m.csv"]):
        _one_line_error(nasedge_cli(*command), why)

def test_the_listing_does_not_build_a_plugins_measurer(nasedge_cli, nasedge_home, tmp_path, monkeypatch):
    """A plugin's measurer may connect to its board when built (a phone over adb): the listing built every local
    measurer to check its settings, so an unplugged board's constructor ran, and its error hid every device."""
    (tmp_path / "phone_plugin.py").write_text(
        "from pathlib import Path\nfrom nasedge.measure import Measurer\n\n\nclass Phone(Measurer):\n"
        "    def __init__(self, serial: str = 'x'):\n"
        f"        Path({str(tmp_path / 'built')!r}).write_text('built')\n"
        "        raise RuntimeError('adb: device not found')\n\n"
        "    def measure(self, workloads):\n        raise AssertionError('not measured')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = nasedge_home / "conf" / "device"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "phone.yaml").write_text("name: phone\nwhere: local\nmeasure:\n  _target_: phone_plugin.Phone\n")
    r = nasedge_cli("devices", "--json")
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0 and rows["phone"]["where"] == "local" and "cpu" in rows, r.stderr
    assert not (tmp_path / "built").exists()


def test_a_hand_written_yaml_of_a_name_devices_add_refuses_is_said(nasedge_cli, nasedge_home):
    """The user's cpu.yaml was silently ignored (the shipped cpu won), and Mixed.yaml and mixed.yaml both loaded."""
    assert nasedge_cli("devices", "add", "mixed", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    folder = nasedge_home / "conf" / "device"
    text = (folder / "mixed.yaml").read_text()
    for name in ("Mixed", "cpu", "CPU-ort-t1"):
        (folder / f"{name}.yaml").write_text(text.replace("name: mixed", f"name: {name}"))
    r = nasedge_cli("devices", "--json")
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 0 and rows["cpu"]["source"] == "shipped" and rows["cpu-ort-t1"]["available"]
    assert f"{folder / 'cpu.yaml'}: ignored: the shipped device 'cpu'" in r.stderr
    for name, twin in (("Mixed", folder / "mixed.yaml"), ("mixed", folder / "Mixed.yaml"), ("CPU-ort-t1", None)):
        assert rows[name]["where"] == "unreadable" and "differs only in case from that of" in rows[name]["unavailable"]
        assert twin is None or str(twin) in rows[name]["unavailable"]
    _one_line_error(nasedge_cli("measure", "--device", "Mixed", "--num-archs", "1", "--out", nasedge_home / "m.csv"),
                    f"{folder / 'Mixed.yaml'}: the device name 'Mixed' differs only in case from that of {folder}")
    assert "cpu.yaml: ignored" in nasedge_cli("devices", "show", "cpu").stderr


@pytest.mark.parametrize("name", ["123", "null", "true", "1e3"])
def test_a_board_whose_name_yaml_reads_as_a_number_or_constant_is_still_a_name(nasedge_cli, name, tmp_path):
    """Hydra parses an unquoted override value: device=123 chose no device but the integer 123 (a traceback)."""
    assert nasedge_cli("devices", "add", name, "--runtime", "onnxruntime", "--threads", "1",
                       "--space", "ofa_mbv3_tiny").returncode == 0
    r = nasedge_cli("predictor", "archs", "--device", name, "-n", "2")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr
    out = tmp_path / "m.csv"
    r = nasedge_cli("measure", "--device", name, "--num-archs", "1", "--out", str(out), "device.measure.batch=1",
                    "+device.measure.protocol.max_seconds=0.2")
    assert r.returncode == 0 and len(out.read_text().splitlines()) == 2, r.stderr
