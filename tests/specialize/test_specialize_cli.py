"""``nasedge specialize`` end to end on the predict-only path (no measuring), and its one-line errors."""

import json
import os

from pathlib import Path

import pytest

from nasedge.cli import main

# tiny but real: the shipped supernet, accuracy predictor and data, a short search, a small evaluation
TINY = ["specialize.evaluation=local", "specialize.test_images=100", "specialize.recalibration_images=100",
        "specialize.formats=[torch,onnx]", "search.max_evaluations=60"]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("nasedge: error: ")
    return last


def test_predict_only_device_specializes_unverified(tmp_path, capsys):
    out = tmp_path / "titan"
    assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7 ms", "--out", str(out), *TINY]) == 0
    for name in ("subnet.pt", "subnet.onnx", "manifest.json", "pareto.png", "report.md", "search.json"):
        assert (out / name).stat().st_size > 0, name
    m = json.loads((out / "manifest.json").read_text())
    assert m["verified"] is False and m["verification"].startswith("unverified")
    assert m["latency_ms"]["measured"] is None and m["latency_ms"]["predicted"] <= 7.0
    assert m["latency_predictor"]["kind"] == "published" and m["latency_predictor"]["cross_space"] is True
    assert "ofa_mbv3_w1.2" in m["latency_predictor"]["description"]
    assert m["accuracy"]["test_images"] == 100 and 10.0 < m["accuracy"]["measured_top1"] <= 100.0
    assert m["device"]["name"] == "titan_rtx_64" and m["budget_ms"] == 7.0 and len(m["supernet"]["sha256"]) == 64
    assert m["search"]["strategy"] == "evolution" and m["search"]["evaluations"] == 60
    assert m["settings"]["out_dir"] == str(out)  # the folder it wrote to, not the setting's null
    assert "unverified" in (out / "report.md").read_text()
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7 ms", "--out", str(out), *TINY]) == 0
    err = capsys.readouterr().err  # a rerun says what it replaces (it did so silently)
    assert "holds an earlier run's pick (manifest.json): it is replaced at the end of this run\n" in err


def test_a_verification_csv_that_cannot_be_resumed_is_refused_before_anything_loads(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "verification.csv").write_text("arch_id,device,median_ms,arch\nx\n")
    assert main(["specialize", "--device", "cpu", "--latency", "7ms", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "supernet" not in err.lower() and "verification.csv:2: " in err and \
        "move the file aside to measure afresh" in err.strip().splitlines()[-1]


def test_a_round_journal_that_cannot_be_resumed_is_refused_before_anything_loads(tmp_path, capsys):
    """verification.csv was checked before the search, its round journal (a group cut short) only after it."""
    from dataclasses import replace

    import numpy as np

    from nasedge.measure.device import get_device
    from nasedge.measure.round_journal import journal_path
    from nasedge.predict.profile import fit_profile, save_profile
    from nasedge.spaces import get_space

    device = get_device("cpu-ort-t1")  # interleaves groups of 20 archs, so its rounds are journaled
    archs = get_space("ofa_mbv3_cifar").sample_many(12, np.random.default_rng(0))
    profile = fit_profile(device.name, "ofa_mbv3_cifar", archs, [1.0 + 0.1 * sum(a.depth) for a in archs], "flops",
                          cv_folds=0)
    save_profile(replace(profile, settings=device.settings))  # nothing to measure before the search
    out = tmp_path / "out"
    out.mkdir()
    journal = journal_path(out / "verification.csv", device.name)
    header = {"format": "nasedge-rounds/1", "device": device.name, "settings": device.settings}
    journal.write_text(json.dumps(header) + '\n{"key": "a"}\n')
    assert main(["specialize", "--device", device.name, "--latency", "7ms", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "supernet" not in err.lower() and "search" not in err.lower(), err
    assert err.strip().splitlines()[-1] == f"nasedge: error: {journal}:2: a round needs 'key', 'timings', 'cpu_s' " \
                                           f"and 'wall_s'; move it away to measure afresh (the rounds it holds are " \
                                           f"timed again)"

def test_bad_search_and_format_values_are_refused_before_any_work(capsys, tmp_path):
    # they failed after the supernet loaded, or after the device's profile was measured (cpu-ort-t1 has none
    # shipped), or, for an export format, after the whole search and verification
    import os

    home = Path(os.environ["NASEDGE_HOME"])
    for extra, message in [(["search.mutate_prob=1.5"], "option 'mutate_prob': value 1.5 is not valid"),
                           (["--strategy", "random", "search.batch_size=0"], "option 'batch_size': value 0 is not valid"),
                           (["specialize.formats=[foo]"], "specialize.formats: value ['foo'] is not valid; expected a "
                                                          "list of one or more of torch, pt2, onnx, tflite"),
                           (["specialize.formats=[]"], "specialize.formats: value [] is not valid"),
                           (["specialize.formats=[onnx,[1]]"],  # a TypeError traceback (a list is unhashable)
                            "specialize.formats: value ['onnx', [1]] is not valid"),
                           (["--strategy", "random", "search=optuna"],
                            "--strategy random and search=optuna name two strategies; give one"),
                           (["device=cpu"],  # it replaced --device's device, and its profile, silently
                            "--device cpu-ort-t1 and device=cpu name two devices; give one"),
                           (["device.measure.threads=0"],  # it was refused after the supernet loaded
                            "runtime onnxruntime: field 'threads': value 0 is not valid")]:
        assert main(["specialize", "--device", "cpu-ort-t1", "--latency", "2ms", "--out", str(tmp_path / "out"),
                     *extra]) == 2
        assert message in _error(capsys)
        assert not (home / "measurements").exists() and not (tmp_path / "out").exists()
    from nasedge.export import tflite_available

    if not tflite_available():  # TFLite alone, without the extra: it would be skipped, leaving no model file
        assert main(["specialize", "--device", "cpu-ort-t1", "--latency", "2ms", "specialize.formats=[tflite]"]) == 2
        assert "TFLite export needs litert-torch and ai-edge-litert" in _error(capsys)


def _model_files(folder) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith("subnet.")}


def test_a_rerun_replaces_the_pick_as_a_whole(tmp_path, capsys, monkeypatch):
    """A rerun into the same --out replaces the earlier pick's files at the end, all together: interrupted while it
    exports, it leaves that pick as it was; with fewer formats, no model file of the earlier pick stays behind (the
    manifest's files are the model files there). What else --out holds stays."""
    from nasedge import export

    out = tmp_path / "titan"
    run = ["specialize", "--device", "titan_rtx_64", "--latency", "7 ms", "--out", str(out), *TINY]
    assert main(run) == 0
    (out / "verification.csv").write_text("kept\n")  # the verification journal, and a file of the user's
    (out / "notes.txt").write_text("mine\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(model, arch, path):  # Ctrl-C while the second format is exported, the first one written
        assert (path.parent / "subnet.pt").is_file()
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setitem(export.FORMATS, "onnx", ("subnet.onnx", interrupted))
        assert main([*run, "seed=1"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier pick whole, no staging folder

    assert main([*run, "seed=1", "specialize.formats=[torch]"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert list(m["files"]) == ["torch"] and m["files"]["torch"]["name"] == "subnet.pt"
    assert _model_files(out) == {"subnet.pt"}
    assert m["search"]["seed"] == 1 and (out / "subnet.pt").read_bytes() != before["subnet.pt"]
    assert (out / "verification.csv").read_text() == "kept\n" and (out / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt", "pareto.png", "report.md",
                                                    "search.json", "subnet.pt", "verification.csv"]


def test_a_second_run_into_the_same_out_is_refused_while_the_first_runs(tmp_path, capsys):
    """Two runs into one --out shared its staging folder: each emptied it, and the second swap deleted the first's
    model files, both runs saying they had picked (the manifest naming files that were gone)."""
    from nasedge.writer_lock import locked_folder

    out = tmp_path / "titan"
    with locked_folder(out, "--out"):   # as a run writing the folder holds it
        assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7 ms", "--out", str(out), *TINY]) == 2
    assert _error(capsys).endswith(f"--out {out}: another run is writing this folder (process {os.getpid()}); wait "
                                   f"for it to end or stop it, or use another folder")
    assert not out.exists()   # the other run's lock went with it, and this run made nothing


@pytest.mark.parametrize("args, message", [
    (["--device", "no-such-board", "--latency", "20ms"], "unknown device 'no-such-board'; known: .*cpu"),
    (["--device", "cpu", "--latency", "20 mm"], "latency budget '20 mm' is not valid"),
    (["--device", "titan_rtx_64", "--latency", "1ms"],
     "latency budget 1 ms is below the fastest subnet of ofa_mbv3_cifar .*predicted at 2.8"),
    (["--device", "cpu", "--latency", "20ms", "--supernet", "/nonexistent/supernet.pt"],
     "supernet checkpoint not found"),
    (["--device", "cpu", "--latency", "20ms", "--predictor-url", "http://127.0.0.1:9"],
     "cannot reach the predictor service at http://127.0.0.1:9"),
    (["--device", "cpu", "--latency", "20ms", "specialize.evaluation=cloud"], "specialize.evaluation"),
    (["--device", "cpu", "--latency", "20ms", "specialize.profile_design=best"],
     "specialize.profile_design: value 'best' is not valid"),
])
def test_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path):
    assert main(["specialize", "--out", str(tmp_path / "out"), *args]) == 2
    import re

    assert re.search(message, _error(capsys))


def test_an_accuracy_predictor_that_does_not_fit_the_supernet_is_refused_before_anything_loads(tmp_path, capsys,
                                                                                              monkeypatch):
    """A predictor of another space, or none beside a --supernet, was said only once the supernet loaded (8-15 s
    for an ImageNet one): the files say their spaces, read without loading them."""
    import shutil

    from nasedge import supernet as supernets
    from nasedge.config import compose
    from tests.specialize.test_evaluation_data import _supernet

    tiny = _supernet(tmp_path / "imported", 1000)  # ofa_mbv3_tiny, its accuracy_predictor.json beside it
    bare = tmp_path / "bare" / "supernet.pt"
    bare.parent.mkdir()
    shutil.copy(tiny, bare)
    shipped = compose([]).supernet.accuracy_predictor  # ofa_mbv3_cifar's, as the shipped supernet

    def loaded(*args, **kwargs):
        raise AssertionError("the supernet was loaded before the accuracy predictor was checked")

    monkeypatch.setattr(supernets, "load_supernet", loaded)
    mismatch = "accuracy predictor is for space '{}', the supernet for '{}'"
    for args, message in [
        (["--supernet", tiny, "--accuracy-predictor", shipped], mismatch.format("ofa_mbv3_cifar", "ofa_mbv3_tiny")),
        ([f"supernet.checkpoint={tiny}"], mismatch.format("ofa_mbv3_cifar", "ofa_mbv3_tiny")),
        (["--accuracy-predictor", tiny.with_name("accuracy_predictor.json")],
         mismatch.format("ofa_mbv3_tiny", "ofa_mbv3_cifar")),
        (["--supernet", bare], f"no accuracy predictor for supernet {bare}: put accuracy_predictor.json beside it"),
    ]:
        capsys.readouterr()
        assert main(["specialize", "--device", "titan_rtx_64", "--latency", "8ms,12ms", "--out",
                     str(tmp_path / "out"), *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err  # no stage ran
    assert supernets.checkpoint_space(tiny) == "ofa_mbv3_tiny"
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert supernets.checkpoint_space(tmp_path / "notes.txt") is None  # loading it says what is wrong


def test_corrupt_supernet_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "supernet.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["specialize", "--device", "cpu", "--latency", "20ms", "--supernet", str(bad),
                 "--out", str(tmp_path / "out")]) == 2
    assert "not a readable supernet checkpoint" in _error(capsys)


def test_unreachable_ray_device_says_how_to_connect(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # no --ray-address and no RAY_ADDRESS: no cluster runs here
    assert main(["specialize", "--device", "jetson-orin", "--latency", "20ms", "--out", str(tmp_path / "out")]) == 2
    line = _error(capsys)
    assert "jetson-orin" in line and "ray start --address" in line and "--measurements" in line


def test_several_budgets_give_one_pick_each_from_one_profile(tmp_path, capsys):
    out = tmp_path / "titan"
    assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7ms,4ms,20ms", "--out", str(out), *TINY]) == 0
    err = capsys.readouterr().err
    # 20 ms is above the slowest subnet's predicted latency: said in one line, the pick is the most accurate
    assert "budget 20 ms does not bind on titan_rtx_64: its subnets are predicted at 2.8" in err
    assert "budget 4 ms does not bind" not in err and "budget 7 ms does not bind" not in err
    top = json.loads((out / "manifest.json").read_text())
    assert top["budgets_ms"] == [4.0, 7.0, 20.0] and [p["dir"] for p in top["picks"]] == ["4ms", "7ms", "20ms"]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG" and "| 4 ms |" in (out / "report.md").read_text()
    pooled = {}
    for b in ("4ms", "7ms", "20ms"):
        for c in json.loads((out / b / "search.json").read_text())["history"]:
            if c["objective"] is not None:
                pooled[json.dumps(c["arch"], sort_keys=True)] = (c["objective"], c["constraint"])
    for pick in top["picks"]:
        m = json.loads((out / pick["dir"] / "manifest.json").read_text())  # the single-budget manifest, per budget
        for name in ("subnet.pt", "subnet.onnx", "report.md", "pareto.png", "search.json"):
            assert (out / pick["dir"] / name).stat().st_size > 0
        assert m["budget_ms"] == pick["budget_ms"] and m["arch_digest"] == pick["arch_digest"]
        assert m["verified"] is False and m["latency_ms"]["predicted"] <= pick["budget_ms"]
        assert m["latency_ms"]["budget_binds"] is (pick["budget_ms"] < 20)
        # the pick is the best candidate any of the searches scored under its budget
        best = max(obj for obj, ms in pooled.values() if ms <= pick["budget_ms"])
        assert m["accuracy"]["predicted_top1"] == pytest.approx(best)
    per_budget = top["search"]["per_budget"]
    assert all(r["pooled_best"] >= r["own_search_best"] for r in per_budget)
    # a rerun with one budget replaces them all: no budget folder of the earlier run stays beside its manifest
    assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7ms", "--out", str(out), *TINY,
                 "specialize.formats=[torch]"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "pareto.png", "report.md", "search.json",
                                                    "subnet.pt"]
    assert list(json.loads((out / "manifest.json").read_text())["files"]) == ["torch"]


@pytest.mark.parametrize("stage", ["_evaluate", "_search"])
def test_a_budget_without_a_pick_keeps_the_others(tmp_path, capsys, monkeypatch, stage):
    """One budget of several failing (its evaluation late, or its search early) must not lose the others' picks: they
    are written, the combined report names the failed budget, and the run ends with one line and exit 2."""
    from nasedge.errors import NasedgeError
    from nasedge.specialize import flow

    real = getattr(flow, stage)

    def failing(*args, **kwargs):
        if args[7].endswith("4ms"):  # the stage name of the 4 ms budget
            raise NasedgeError("none of the 3 finalists meets 4 ms when measured (as a busy board would)")
        return real(*args, **kwargs)

    monkeypatch.setattr(flow, stage, failing)
    out = tmp_path / "titan"
    assert main(["specialize", "--device", "titan_rtx_64", "--latency", "7ms,4ms,20ms", "--out", str(out), *TINY]) == 2
    line = _error(capsys)
    assert f"budget 4 ms without a pick (the others' picks are in {out}): none of the 3 finalists" in line
    top = json.loads((out / "manifest.json").read_text())
    assert [p["dir"] for p in top["picks"]] == ["7ms", "20ms"] and top["failed"][0]["budget_ms"] == 4.0
    assert (out / "7ms" / "subnet.onnx").stat().st_size > 0 and not (out / "4ms").exists()
    assert "| 4 ms | - | no pick: none of the 3 finalists" in (out / "report.md").read_text()


def test_a_predictor_chosen_beside_a_stored_profile_is_refused(tmp_path, capsys):
    # cpu's stored (shipped) profile was used whatever predictor= said, without a word
    out = tmp_path / "out"
    assert main(["specialize", "--device", "cpu", "--latency", "1.3ms", "--out", str(out), "predictor=flops"]) == 2
    err = _error(capsys)
    assert err.startswith("nasedge: error: predictor=flops: device cpu has a stored profile of ofa_mbv3_cifar")
    assert "meta predictor), which is used as it is; fit a new one with `nasedge predictor fit --device cpu " \
           "--predictor flops`" in err
    assert main(["specialize", "--device", "cpu", "--latency", "1.3ms", "--out", str(out),
                 "predictor.nu=2.0"]) == 2  # the stored profile's own predictor, with other options
    assert "predictor.nu=2.0: device cpu has a stored profile" in _error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("folder", ["profiles", "measurements"])
def test_a_home_that_cannot_be_written_is_said_before_the_device_is_measured(tmp_path, capsys, monkeypatch, folder,
                                                                           read_only_folder):
    """cpu-ort-t1 has no stored profile: it was measured for minutes, and then the profile (or its measurements)
    could not be written to the home. Now it fails first, as `devices add` and `predictor fit` do."""
    monkeypatch.setenv("NASEDGE_HOME", str(tmp_path / "home"))
    for name in ("profiles", "measurements"):
        (tmp_path / "home" / name).mkdir(parents=True)
    read_only = tmp_path / "home" / folder  # the home's folder is read-only; --out is not
    read_only_folder(read_only)
    out = tmp_path / "out"
    assert main(["specialize", "--device", "cpu-ort-t1", "--latency", "7ms", "--out", str(out), *TINY]) == 2
    assert _error(capsys) == f"nasedge: error: NASEDGE_HOME={tmp_path / 'home'}: cannot write in {read_only} " \
                             f"(Read-only file system)"
