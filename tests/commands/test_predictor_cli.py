"""`nasedge predictor ...` as users run it (in this process): exit codes and what it prints."""

import csv
import json

import numpy as np
import pytest

from nasedge.resources import shipped_path

DATA = shipped_path("latency_predictors") / "data"


@pytest.fixture
def nasedge(nasedge_cli):
    """``nasedge(*args)``: ``nasedge predictor ARGS``."""
    return lambda *args: nasedge_cli("predictor", *args)


def one_line_error(r, needle):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_eval_json_on_shipped_sample(nasedge):
    r = nasedge("eval", "--space", "ofa", "--data", str(DATA / "help_ofa_sample"), "--target-device", "titan_rtx_64",
                "--shots", "10", "--seeds", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["spearman"] > 0.98 and 0 < out["mape"] < 5 and 0.9 < out["within_10pct"] <= 1
    assert out["measured_on_target"] == 20 and out["protocol"] == "help"
    r = nasedge("eval", "--space", "nasbench201", "--data", str(DATA / "help_nasbench201_sample"),
                "--target-device", "fpga", "--protocol", "untrimmed", "--seeds", "1", "--predictor", "flops")
    assert r.returncode == 0, r.stderr
    assert "flops on fpga (nasbench201, protocol untrimmed, 20 measurements on the target" in r.stdout


def test_eval_on_a_device_split(nasedge):
    """--sources: the prior learns from those devices only (GPUs for a phone target), and bad splits are refused."""
    data = str(DATA / "help_nasbench201_sample")
    args = ("eval", "--space", "nasbench201", "--data", data, "--target-device", "pixel2", "--protocol", "untrimmed",
            "--seeds", "1", "--json")
    gpus = "1080ti_1,1080ti_32,2080ti_1,2080ti_32,titan_rtx_1,titan_rtx_32"
    every = json.loads(nasedge(*args).stdout)
    r = nasedge(*args, "--sources", gpus, "--max-shots", "40")
    assert r.returncode == 0, r.stderr
    split = json.loads(r.stdout)
    assert split["spearman"] != every["spearman"] and 20 <= split["samples"] <= 40 and split["max_shots"] == 40
    # several targets of one split, with the noise ceiling beside: one line each and the mean
    r = nasedge(*args[:6], "pixel2,fpga", *args[7:-1], "--sources", gpus, "--ceiling")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("meta on pixel2") and "noise ceiling (oracle): spearman" in lines[1]
    assert lines[2].startswith("mean over 2 targets: meta spearman")
    both = json.loads(nasedge(*args[:6], "pixel2,fpga", *args[7:], "--sources", gpus, "--ceiling").stdout)
    assert set(both["targets"]) == {"pixel2", "fpga"} and set(both["mean"]) == {"meta", "oracle"}
    # the baselines side by side on the same tasks (nearest and oracle are the benchmark's, not registered predictors)
    r = nasedge(*args[:-1], "--sources", gpus, "--predictor", "meta,flops,nearest", "--ceiling")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("pixel2: meta ") and "; nearest " in r.stdout.splitlines()[1]
    assert r.stdout.splitlines()[2].startswith("mean over 1 targets: meta ") and "noise ceiling (oracle)" in r.stdout
    assert nasedge(*args, "--predictor", "nearest").returncode == 0  # was refused by the early input check
    one_line_error(nasedge(*args, "--predictor", "meta,gbm"), "unknown predictor 'gbm'")
    alone = json.loads(nasedge(*args, "--sources", gpus).stdout)
    assert both["targets"]["pixel2"]["meta"]["spearman"] == alone["spearman"]  # the same tasks as one target alone
    assert both["mean"]["meta"]["spearman"] == (alone["spearman"] + both["targets"]["fpga"]["meta"]["spearman"]) / 2
    one_line_error(nasedge(*args, "--sources", "pixel2,fpga"), "source device 'pixel2' is the target")
    one_line_error(nasedge(*args, "--sources", "1080ti_1,nope"), "source device 'nope' is not in the dataset")
    one_line_error(nasedge(*args, "--sources", ","), "--sources: value ',' names no device")


def test_archs_then_fit_then_show(tmp_path, nasedge):
    r = nasedge("archs", "--space", "ofa_mbv3_w1.2", "-n", "20", "--seed", "1")
    assert r.returncode == 0, r.stderr
    archs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(archs) == 20 and len({json.dumps(a) for a in archs}) == 20
    r = nasedge("archs", "--space", "ofa_mbv3_w1.2", "-n", "20", "--seed", "1", "--random")
    drawn = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0 and len({json.dumps(a) for a in drawn}) == 20 and drawn[:10] == archs[:10]
    assert drawn[10:] != archs[10:]  # the default is the active choice (--active says so explicitly)
    assert [json.loads(x) for x in nasedge("archs", "--space", "ofa_mbv3_w1.2", "-n", "20", "--seed", "1",
                                           "--active").stdout.splitlines()] == archs
    # latencies from a real device of the shipped sample: look the 20 archs up (10 reference + 10 more)
    from nasedge.predict.dataset import load_dataset

    ds = load_dataset(DATA / "help_ofa_sample")
    where = {json.dumps(a.to_dict()): i for i, a in enumerate(ds.items)}
    rows = list(ds.reference) + list(range(10))
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "latency_ms", "note"])
        for i in rows:
            w.writerow([ds.items[i].to_json(), ds.column("v100_64")[i], "ok"])
    assert sum(json.dumps(a) in where for a in archs) == 10  # the reference archs are the first ten
    r = nasedge("fit", "--device", "gpu-x", "--measurements", str(path), "--profiles-dir", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    assert "meta profile of gpu-x (ofa_mbv3_w1.2); cross-validated on its 20 measurements" in r.stdout
    assert "would pay" not in r.stderr  # a GPU at batch 64: the prior fits, no more measurements asked for
    # which it chose, and why: mostly the prior, which fits (no blend beats it clearly on the samples left out)
    line = next(x for x in r.stdout.splitlines() if x.startswith("adaptation: prior "))
    assert float(line.split()[2].rstrip(",:")) >= 0.6 and "does not fit" not in line, line
    profile = json.loads((tmp_path / "p" / "gpu-x@ofa_mbv3_w1.2.json").read_text())
    assert profile["predictor"] == "meta" and len(profile["measurements"]) == 20
    r = nasedge("show", "--device", "gpu-x", "--profiles-dir", str(tmp_path / "p"), "--json")
    shown = json.loads(r.stdout)
    assert r.returncode == 0 and shown["quality"]["spearman"] > 0.9
    assert f"adaptation: {shown['adaptation']}" == line
    assert line in nasedge("show", "--device", "gpu-x", "--profiles-dir", str(tmp_path / "p")).stdout
    r = nasedge("fit", "--device", "gpu-y", "--measurements", str(path), "--predictor", "flops",
                "--profiles-dir", str(tmp_path / "p"))
    assert r.returncode == 0 and json.loads((tmp_path / "p" / "gpu-y@ofa_mbv3_w1.2.json").read_text())["predictor"] == "flops"
    assert "adaptation" not in r.stdout  # flops has nothing to choose


def test_fit_from_a_file_says_when_more_measurements_would_pay(tmp_path, nasedge):
    from nasedge.predict.encodings import get_encoding
    from nasedge.predict.profile import profile_archs

    enc = get_encoding("ofa_mbv3_cifar")
    archs = profile_archs(enc, 20)
    act = enc.features(archs)[:, list(enc.feature_names).index("act")]
    # a board whose latency follows the activations written alone (3 % noise): unlike every device of the prior
    noise = [np.random.default_rng(k).standard_normal() for k in range(20)]
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "latency_ms"])
        for a, x, e in zip(archs, act, noise):
            w.writerow([a.to_json(), (0.5 + 1e-5 * x) * (1 + 0.03 * e)])
    r = nasedge("fit", "--device", "odd", "--measurements", str(path), "--profiles-dir", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    assert "the prior does not fit this device" in r.stderr and "10 more measurements would pay" in r.stderr
    assert "nasedge predictor archs --space ofa_mbv3_cifar -n 30" in r.stderr


@pytest.mark.parametrize("content, needle", [
    ("arch,latency_ms\n{\"space\": 1,2.0\n", "m.csv:2: column 'arch': invalid JSON"),
    ("arch,time\n{},1\n", "m.csv:1: expected a header with columns 'arch' and 'latency_ms'"),
    ('arch,latency_ms\n"{""space"": ""ofa_mbv3_w1.2""}",2.0\n', "m.csv:2: column 'arch': field 'kernel'"),
    ('arch,latency_ms\n"{""space"": ""mars"", ""kernel"": [3], ""expand"": [3], ""depth"": [1], '
     '""resolution"": 8}",2.0\n', "unknown space 'mars'"),
])
def test_fit_bad_measurements(tmp_path, content, needle, nasedge):
    (tmp_path / "m.csv").write_text(content)
    one_line_error(nasedge("fit", "--device", "d", "--measurements", str(tmp_path / "m.csv"),
                           "--profiles-dir", str(tmp_path)), needle)


def test_bad_inputs_exit_2_one_line(tmp_path, nasedge):
    one_line_error(nasedge("fit", "--device", "d"), "unknown device 'd'; known: ")  # measuring needs a known device
    one_line_error(nasedge("fit", "--device", "titan_rtx_64"), "device titan_rtx_64 is predict-only")
    one_line_error(nasedge("fit", "--device", "a/b", "--measurements", "x.csv"), "device name 'a/b' is not valid")
    one_line_error(nasedge("show", "--device", "nope", "--profiles-dir", str(tmp_path)),
                   "no latency profile for device 'nope'")
    sample = str(DATA / "help_ofa_sample")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "tpu"),
                   "unknown device 'tpu'")
    one_line_error(nasedge("eval", "--space", "resnet", "--data", sample, "--target-device", "v100_1"),
                   "unknown space 'resnet'")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", str(tmp_path), "--target-device", "v100_1"),
                   "archs.jsonl: no such file")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "v100_1", "--seeds", "0"),
                   "--seeds: value 0 is not valid")
    # two conditions shared one message, naming max_shots for --max-shots
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "titan_rtx_1",
                           "--max-shots", "40"), "error: --max-shots: only with --protocol untrimmed\n")
    for flag in (["--folds", "3"], ["--sources", "v100_1"], ["--active"]):  # --folds was silently ignored
        one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "titan_rtx_1", *flag),
                       f"error: {flag[0]}: only with --protocol untrimmed\n")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "titan_rtx_1", "--predictor",
                           "flops", "--table", "t.json"), "error: --table: only with --predictor lut\n")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "titan_rtx_1", "--protocol",
                           "untrimmed", "--max-shots", "10"),
                   "error: --max-shots: value 10 is less than --shots 20; expected at least --shots\n")
    for seeds in ("100000", "99999999999999999999"):  # unbounded, the tasks of every seed filled memory up front
        one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "v100_1", "--seeds",
                               seeds), f"--seeds: value {seeds} is not valid; expected 1-1000")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "v100_1",
                           "--predictor", "gbm"), "unknown predictor 'gbm'")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "v100_1"),
                   "'v100_1' is a meta-train device of HELP's protocol")
    one_line_error(nasedge("eval", "--space", "ofa", "--data", sample, "--target-device", "titan_rtx_1",
                           "--predictor", "lut"), "predictor 'lut' needs a latency table")


def test_fit_without_measurements_measures_on_the_device(tmp_path, nasedge):
    import yaml

    from nasedge.measure import read_measurements_csv
    from nasedge.predict.profile import load_profile, profile_archs

    fast = dict(warmup_runs=1, warmup_s=0.0, round_s=0.001, min_repeats=1, min_rounds=2, max_rounds=3,
                max_seconds=1.0, max_spread=10.0, min_cpu_share=0.0, max_rse=10.0)
    dev = tmp_path / "board.yaml"
    dev.write_text(yaml.safe_dump({"name": "board", "where": "local", "measure": {
        "_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "onnxruntime", "threads": 1, "protocol": fast}}))
    csv_path = tmp_path / "m.csv"
    args = ("fit", "--device", str(dev), "--space", "ofa_mbv3_cifar", "-n", "5", "--predictor", "flops",
            "--profiles-dir", str(tmp_path / "p"), "--save-measurements", str(csv_path))
    one_line_error(nasedge(*args), "-n 5: 5 of the 10 reference archs of space 'ofa_mbv3_cifar' are not measured")
    one_line_error(nasedge(*args, "--max-num", "3"), "--max-num: value 3 is less than -n 5; expected at least -n")
    assert not csv_path.exists()  # refused before anything was measured
    args = (*args, "--allow-missing-reference")
    r = nasedge(*args)
    assert r.returncode == 0, r.stderr
    assert "flops profile of board (ofa_mbv3_cifar)" in r.stdout and "measuring 5 archs" in r.stderr
    measured = read_measurements_csv(csv_path)
    assert [m.arch for m in measured] == profile_archs("ofa_mbv3_cifar", 5) and all(m.median_ms > 0 for m in measured)
    profile = load_profile("board", tmp_path / "p")
    np.testing.assert_allclose([lat for _, lat in profile.measurements], [m.median_ms for m in measured], rtol=1e-5)
    r = nasedge(*args)  # everything measured already: refits from the file
    assert r.returncode == 0 and read_measurements_csv(csv_path) == measured


def test_measurements_of_other_settings_are_left_out_of_a_fit(tmp_path, capsys):
    # after a board's YAML was edited, `measure` appended rows of the new settings beside the old ones, and
    # `predictor fit --measurements` refused the file (the same arch twice) or fitted old rows as the new board's
    from nasedge.cli import main
    from nasedge.measure import LatencyStats, Measurement, write_measurements_csv
    from nasedge.measure.device import get_device
    from nasedge.predict.profile import load_profile
    from nasedge.spaces import get_space

    assert main(["devices", "add", "b", "--runtime", "onnxruntime", "--threads", "1"]) == 0
    now = get_device("b").settings
    archs = get_space("ofa_mbv3_cifar").sample_many(6, 0)
    stats = [LatencyStats(m, m, m, m, 0.01, 0.001, 10, 3, 1.0, False, "") for m in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    rows = [Measurement(a, "b", stats[i], f"a{i}", settings=s)
            for s in ("0ld5e771", now) for i, a in enumerate(archs)]
    write_measurements_csv(tmp_path / "lat.csv", rows)
    fit = ["predictor", "fit", "--device", "b", "--predictor", "flops", "--allow-missing-reference", "--measurements"]
    assert main([*fit, str(tmp_path / "lat.csv")]) == 0
    assert "6 measurements of b under other settings are left out" in capsys.readouterr().err
    profile = load_profile("b", None, "ofa_mbv3_cifar")
    assert profile.settings == now and len(profile.measurements) == 6
    write_measurements_csv(tmp_path / "old.csv", rows[:6])
    assert main([*fit, str(tmp_path / "old.csv")]) == 2
    assert "no measurements of device 'b' under its settings now" in capsys.readouterr().err


def _measured_on_fewer(tmp_path, device: str, archs: int):
    """The NAS-Bench-201 sample with ``device`` measured on its first ``archs`` archs only."""
    import shutil

    d = tmp_path / "ds"
    shutil.copytree(DATA / "help_nasbench201_sample", d)
    lines = (d / "latency_ms.csv").read_text().splitlines()
    col = lines[0].split(",").index(device)
    lines = [lines[0], *(",".join(v if j != col or i < archs else "" for j, v in enumerate(ln.split(",")))
                         for i, ln in enumerate(lines[1:]))]
    (d / "latency_ms.csv").write_text("\n".join(lines) + "\n")
    return d


def test_a_target_that_cannot_be_scored_leaves_the_others_shown(nasedge, tmp_path):
    d = _measured_on_fewer(tmp_path, "pixel2", 15)  # too few for 20 samples
    r = nasedge("eval", "--space", "nasbench201", "--data", str(d), "--target-device", "pixel2,fpga", "--protocol",
                "untrimmed", "--seeds", "1", "--predictor", "flops,totals")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("nasedge: error: shots 20: device 'pixel2' has") == 1  # said once, not per predictor
    out = r.stdout.splitlines()
    assert out[1] == "pixel2: flops n/a; totals n/a" and out[2].startswith("fpga: flops 0.")
    assert out[3].startswith("mean over 1 targets (1 left out: failed): flops ")


def test_an_oracle_fitted_on_few_archs_is_said_to_be_a_weak_ceiling(nasedge, tmp_path):
    d = _measured_on_fewer(tmp_path, "fpga", 60)
    args = ("eval", "--space", "nasbench201", "--target-device", "fpga", "--protocol", "untrimmed", "--seeds", "1",
            "--predictor", "flops", "--ceiling")
    r = nasedge(*args, "--data", str(d))
    assert r.returncode == 0, r.stderr
    assert "nasedge: warning: the oracle of fpga was fitted on fewer than 100 archs (at least 4" in r.stderr
    r = nasedge(*args, "--data", str(DATA / "help_nasbench201_sample"))  # 308 archs: about 246 outside a fold
    assert r.returncode == 0 and "weak noise ceiling" not in r.stderr


def test_an_oracle_thrown_by_outliers_is_said_to_be_an_unreliable_ceiling(nasedge, tmp_path):
    import shutil

    d = tmp_path / "ds"
    shutil.copytree(DATA / "help_nasbench201_sample", d)
    lines = (d / "latency_ms.csv").read_text().splitlines()
    col = lines[0].split(",").index("pixel2")
    ref = set(json.loads((d / "reference_archs.json").read_text()))
    rows = [i for i, ln in enumerate(lines) if i and int(ln.split(",")[0]) not in ref][:3]
    for i in rows:  # three cells at 1e5 ms: the ceiling predicted a quarter of the archs below 0 ms, unremarked
        lines[i] = ",".join("100000" if j == col else v for j, v in enumerate(lines[i].split(",")))
    (d / "latency_ms.csv").write_text("\n".join(lines) + "\n")
    r = nasedge("eval", "--space", "nasbench201", "--data", str(d), "--target-device", "pixel2,fpga", "--protocol",
                "untrimmed", "--seeds", "1", "--predictor", "flops", "--ceiling")
    assert r.returncode == 0, r.stderr
    assert "nasedge: warning: the oracle of pixel2 (" in r.stderr and "an unreliable noise ceiling" in r.stderr
    assert "fpga (" not in r.stderr


def test_figures_over_a_handful_of_query_archs_are_said_to_be_so(nasedge, tmp_path):
    d = _measured_on_fewer(tmp_path, "fpga", 60)  # about a fifth of 60 archs in each fold's query set
    r = nasedge("eval", "--space", "nasbench201", "--data", str(d), "--target-device", "fpga,pixel2", "--protocol",
                "untrimmed", "--seeds", "1", "--predictor", "flops,totals")
    assert r.returncode == 0, r.stderr
    assert "nasedge: warning: fewer than 100 query archs scored on fpga (" in r.stderr and "pixel2" not in r.stderr


def test_a_stale_profile_pushed_to_a_service_is_said_to_be_stale(nasedge_cli, nasedge_home, tmp_path, monkeypatch):
    """A profile measured under other settings than its device's YAML says now was pushed without a word, while
    `predictor show` and `devices` mark it stale: the service took the old board's measurements as the device's."""
    from dataclasses import replace

    from nasedge.measure.device import get_device
    from nasedge.predict.profile import fit_profile, save_profile
    from nasedge.service import create_app
    from nasedge.service.settings import ServiceSettings
    from nasedge.spaces import get_space
    from tests.service.conftest import _token, running  # the real server on a loopback port

    assert nasedge_cli("devices", "add", "rb", "--runtime", "onnxruntime", "--threads", "1").returncode == 0
    before = get_device("rb").settings
    archs = get_space("ofa_mbv3_cifar").sample_many(12, np.random.default_rng(0))
    profile = fit_profile("rb", "ofa_mbv3_cifar", archs, [1.0 + 0.1 * sum(a.depth) for a in archs], "flops", cv_folds=0)
    path = save_profile(replace(profile, settings=before))
    yaml = nasedge_home / "conf" / "device" / "rb.yaml"
    yaml.write_text(yaml.read_text().replace("threads: 1", "threads: 2"))
    why = f"measured under other settings of rb ({before}, now {get_device('rb').settings})"
    token, token_hash = _token()
    monkeypatch.setenv("NASEDGE_TOKEN", token)
    settings = ServiceSettings(db=f"sqlite:///{tmp_path / 'profiles.db'}", write_token_hashes=[token_hash],
                               shipped_profiles_dir=str(tmp_path), predictor="flops", cv_folds=3)
    with running(create_app(settings)) as url:
        r = nasedge_cli("predictor", "push", "--device", "rb", "--url", url)
    assert r.returncode == 0 and "registered rb (ofa_mbv3_cifar)" in r.stdout, r.stderr
    assert f"nasedge: warning: {path}: stale: {why}; specialize measures the device again" in r.stderr


def test_measuring_into_a_home_whose_measurements_folder_cannot_be_written_is_refused_first(nasedge, tmp_path,
                                                                                             monkeypatch,
                                                                                             read_only_folder):
    """With --profiles-dir elsewhere, only the profiles folder was checked: measuring then ended in a
    FileNotFoundError traceback when its CSV could not be made in the home's measurements folder."""
    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "home"))
    read_only = tmp_path / "home"  # read-only; --profiles-dir is not
    read_only.mkdir()
    read_only_folder(read_only)
    fit = ("fit", "--device", "cpu-ort-t1", "--space", "ofa_mbv3_tiny", "--profiles-dir", str(tmp_path / "p"))
    one_line_error(nasedge(*fit), f"NASEDGE_HOME={read_only}: cannot write in {read_only} (Read-only file system)")
