"""Experiment scripts answer bad input as the CLI does: one line naming the problem, exit status 2, nothing of the
user's removed and nothing written into the source tree (experiments/expcli.py)."""

from __future__ import annotations

import json
import pickle
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"


def script(path: str, *args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python experiments/<path> ARGS`` in its own process, with the tree's nasedge."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, str(EXPERIMENTS / path), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def one_line(done: subprocess.CompletedProcess, *words: str) -> str:
    """The one error line of a run refused with exit status 2 (no traceback), holding each of ``words``."""
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def test_resume_check_keeps_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    one_line(script("cifar10_ofa/resume_check.py", "--data", tmp_path / "nope.npz", "--out", out), "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive")
    one_line(script("cifar10_ofa/resume_check.py", "--data", bad, "--out", out), str(out), "did not make")
    assert (out / "precious.txt").read_text() == "keep"


def test_resume_check_shows_the_runs_own_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive")
    done = script("cifar10_ofa/resume_check.py", "--data", bad, "--out", tmp_path / "out", cwd=tmp_path)
    one_line(done, "run A failed", "bad.npz", "nasedge: error")


def test_campaign_refuses_unknown_spaces_and_devices_before_writing(tmp_path):
    data = REPO / "latency_predictors" / "data"
    before = sorted(p.name for p in data.iterdir())
    out = tmp_path / "sample"
    one_line(script("latency_datasets/campaign.py", "--limit", 2, "--devices", "cpu-ort-t1", "--spaces", "nope",
                    "--out", out), "space", "'nope'")
    one_line(script("latency_datasets/campaign.py", "--devices", "nope", "--out", out), "unknown device 'nope'")
    one_line(script("latency_datasets/campaign.py", "--devices", "cpu-ort-t1", "--help-ofa", tmp_path / "nope",
                    "--out", out), "--help-ofa", "nope")
    assert sorted(p.name for p in data.iterdir()) == before and not out.exists()


def test_campaign_sample_measures_into_its_own_out(tmp_path):
    """A sample elsewhere takes none of the repository's measurements as done: it measures them itself."""
    out = tmp_path / "sample"
    done = script("latency_datasets/campaign.py", "--limit", 1, "--devices", "cpu-ort-t1", "--spaces",
                  "ofa_mbv3_cifar", "--out", out, "--priority", 0)
    assert done.returncode == 0, done.stderr
    assert "measured 1 (had 0)" in done.stdout and "nan" not in done.stdout, done.stdout
    header, *rows = (out / "ofa_mbv3_cifar" / "latency_ms.csv").read_text().splitlines()
    assert header == "arch_id,cpu-ort-t1" and sum(not r.endswith(",") for r in rows) == 1


SMALL_SEARCH = ["--evaluations", "5,10", "--seeds", 2, "--variants", "random", "--pick", "random",
                "--reference-factor", 2, "--percentiles", 50, "--num-random", 20, "--jobs", 1]


def test_search_quality_resumes_after_a_torn_last_line(tmp_path):
    out = tmp_path / "q"
    first = script("specialize/search_quality.py", *SMALL_SEARCH, "--out", out)
    assert first.returncode in (0, 1), first.stderr  # 1: the pick is not within tolerance
    runs = tmp_path / "q.runs.jsonl"
    lines = runs.read_text().splitlines()
    assert len(lines) == 4
    runs.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # a kill mid-write
    again = script("specialize/search_quality.py", *SMALL_SEARCH, "--out", out)
    assert again.returncode == first.returncode, again.stderr
    assert "dropped a last line cut short" in again.stderr and "3 already done" in again.stderr, again.stderr
    now = [json.loads(line) for line in runs.read_text().splitlines()]
    assert now[:3] == [json.loads(line) for line in lines[:3]] and len(now) == 4


def test_search_quality_bad_input_is_one_line(tmp_path):
    out = tmp_path / "q"
    one_line(script("specialize/search_quality.py", "--evaluations", "abc", "--out", out), "--evaluations", "'abc'")
    one_line(script("specialize/search_quality.py", "--constraint",
                    "experiments.specialize.predictors:latency=" + str(tmp_path / "nope.json"), "--out", out),
             "nope.json")
    (tmp_path / "q.runs.jsonl").write_text('{"a": 1}\n')
    one_line(script("specialize/search_quality.py", *SMALL_SEARCH, "--out", out), "q.runs.jsonl:1")


def test_latency_benchmark_refuses_a_missing_or_cut_results_file(tmp_path):
    one_line(script("latency_predictors/run.py", "table", "--results", tmp_path / "missing.json"), "missing.json",
             "not found")
    cut = tmp_path / "cut.json"
    cut.write_text((EXPERIMENTS / "latency_predictors" / "results.json").read_text()[:5000])
    for verb in ("table", "help"):
        one_line(script("latency_predictors/run.py", verb, "--data", tmp_path, "--results", cut), "cut.json",
                 "not a results file")
    one_line(script("latency_predictors/run.py", "help", "--results", tmp_path / "new.json"), "--data is required")


def _bad_inputs_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_inputs", EXPERIMENTS / "new_board" / "bad_inputs.py")
    module = sys.modules.setdefault("bad_inputs", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)  # registered first: its dataclasses look their module up
    return module


def test_bad_inputs_writes_its_readme_only_when_asked(tmp_path, monkeypatch, capsys):
    bad_inputs = _bad_inputs_module()
    readme = tmp_path / "README.md"
    readme.write_text("# board\n\n## Part C: bad inputs\n\nold table\n\n## Part D\n\nkept\n")
    monkeypatch.setattr(bad_inputs, "README", readme)
    monkeypatch.setattr(bad_inputs, "ROOT", tmp_path)
    monkeypatch.setattr(bad_inputs, "cases", lambda d: [])  # the table's rows are not what is checked here
    assert bad_inputs.main([]) == 0
    assert "old table" in readme.read_text() and "wrote" not in capsys.readouterr().out
    assert bad_inputs.main(["--write-readme"]) == 0
    text = readme.read_text()
    assert "old table" not in text and "--write-readme" in text and text.endswith("## Part D\n\nkept\n")


@pytest.mark.parametrize("path, args, words", [
    ("measurement_trust/run.py", ["--device", "nope"], ["unknown device 'nope'"]),
    ("measurement_trust/run.py", ["--protocol", "group_sze=3"], ["unknown field 'group_sze'"]),
    ("measurement_trust/run.py", ["--protocol", "group_size"], ["not KEY=VALUE"]),
    ("measurement_trust/run.py", ["--num-archs", "0"], ["--num-archs", "'0'"]),
    ("cifar10_ofa/noise_ceiling.py", ["{tmp}/nope"], ["nope: no such folder"]),
    ("latency_datasets/repeat_agreement.py", ["{tmp}/nope.csv", "{tmp}/again.csv"], ["nope.csv"]),
    ("latency_datasets/compare_repeats.py", ["{tmp}/nope"], ["nope: no such folder"]),
    ("latency_datasets/compare_repeats.py", ["{tmp}"], ["no repeats there"]),
    ("service/offline_vs_service.py", ["--out", "{tmp}"], ["is a folder"]),
])
def test_bad_input_is_one_line(tmp_path, path, args, words):
    one_line(script(path, *(a.format(tmp=tmp_path) for a in args), "--out", tmp_path / "r.json")
             if path == "measurement_trust/run.py" else script(path, *(a.format(tmp=tmp_path) for a in args)), *words)


def test_noise_ceiling_names_a_cut_line(tmp_path):
    results = EXPERIMENTS / "cifar10_ofa" / "results" / "noise_recal"
    for f in results.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    cut = tmp_path / "random_recal2.jsonl"
    cut.write_text(cut.read_text()[:300])
    one_line(script("cifar10_ofa/noise_ceiling.py", tmp_path), "random_recal2.jsonl:1", "invalid JSON")


def test_latency_benchmark_merge_keeps_results_of_the_code_now_in_the_tree(tmp_path):
    # copies of the whole results file, each with one chain recomputed, undid each other's chain in turn
    table = script("latency_predictors/run.py", "table", "--results", EXPERIMENTS / "latency_predictors" /
                   "results.json").stdout
    code = table.split("(code digest ")[1][:16]  # the digest of the latency code now in the tree
    stored = {"x/a": {"code": "old", "spearman": 0.1}, "x/b": {"code": "old", "spearman": 0.2}}
    copies = {"a": {**stored, "x/a": {"code": code, "spearman": 0.5}}, "b": {**stored, "x/b": {"code": code,
                                                                                               "spearman": 0.6}}}
    (tmp_path / "results.json").write_text(json.dumps(stored))
    for name, content in copies.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    done = script("latency_predictors/run.py", "merge", tmp_path / "a.json", tmp_path / "b.json", "--results",
                  tmp_path / "results.json")
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "results.json").read_text())
    assert {k: v["spearman"] for k, v in merged.items()} == {"x/a": 0.5, "x/b": 0.6}
    assert "1 of other code left out" in done.stdout


OFA_CIFAR = REPO / "latency_predictors" / "data" / "ofa_mbv3_cifar"  # a small dataset in the tree


_BAD_LATENCY_INPUTS = [
    ("latency_predictors/units.py", ["--units", "abc"], ["--units", "'abc'"]),
    ("latency_predictors/units.py", ["--units", "nan", "--data", OFA_CIFAR], ["--units", "'nan'"]),
    ("latency_predictors/units.py", ["--data", "{tmp}/nope"], ["nope", "not a directory"]),
    ("latency_predictors/units.py", ["--seeds", "0"], ["--seeds", "'0'"]),
    ("latency_predictors/units.py", ["--data", OFA_CIFAR, "--targets", "cpu-ort-t1,nope", "--sources", "cpu-ort-t2"],
     ["unknown device 'nope'"]),
    ("latency_predictors/units.py", ["--data", OFA_CIFAR, "--targets", "cpu-ort-t1", "--sources", "cpu-ort-t1"],
     ["--targets cpu-ort-t1", "also in --sources"]),
    ("latency_predictors/units.py", ["--data", OFA_CIFAR, "--targets", "cpu-ort-t1", "--sources", "cpu-ort-t2",
                                     "--units", "1,1e-9"], ["--units", "factor 1e-09"]),
    ("latency_predictors/units.py", ["--predictors", "meta,nope"], ["unknown latency predictor 'nope'"]),
    ("latency_predictors/hiccups.py", ["--predictors", "flops", "nope"], ["unknown latency predictor 'nope'"]),
    ("latency_predictors/hiccups.py", ["--slow", "-1"], ["--slow", "'-1'"]),
    ("latency_predictors/hiccups.py", ["--factor", "0"], ["--factor", "'0'"]),
    ("latency_predictors/hiccups.py", ["--seeds", "0"], ["--seeds", "'0'"]),
    ("latency_predictors/tried/active_choice_variance.py", [], ["expected VARIANCE BENCH SEEDS"]),
    ("latency_predictors/tried/active_choice_variance.py", ["x", "ct-fb", "1"], ["expected VARIANCE a number"]),
    ("latency_predictors/tried/blend_cache.py", [], ["expected BENCH"]),
    ("latency_predictors/tried/blend_cache.py", ["nope"], ["unknown benchmark 'nope'"]),
    ("latency_predictors/tried/blend_cache.py", ["ct-nb", "--shots=x"], ["--shots=x"]),
    ("latency_predictors/tried/blend_decision.py", ["nasbench201", "pixel2"], ["expected SPACE TARGET SOURCES SHOTS"]),
    ("latency_predictors/tried/blend_decision.py", ["nope", "pixel2", "a", "10"], ["unknown space 'nope'"]),
    ("latency_predictors/tried/blend_variants.py", [], ["expected VARIANT BENCH"]),
    ("latency_predictors/tried/blend_variants.py", ["bse", "ct-nb"], ["unknown variant bse"]),
    ("latency_predictors/tried/calibrated.py", ["prior", "nope"], ["cache_nope.pkl", "no such file"]),
    ("latency_predictors/tried/calibrated.py", ["bogus", "ct-nb"], ["mode 'bogus'"]),
    ("latency_predictors/tried/cost_features.py", ["curve"], ["expected curve|fits BENCH"]),
    ("latency_predictors/tried/cost_features.py", ["curve", "nope"], ["cache_nope.pkl", "no such file"]),
    ("latency_predictors/tried/flat_headroom.py", ["lodo"], ["benchmark 'lodo'"]),
    ("latency_predictors/tried/inner_loop.py", ["nope"], ["unknown variant 'nope'"]),
    ("latency_predictors/tried/inner_loop.py", ["base", "nope"], ["unknown benchmark 'nope'"]),
    ("latency_predictors/tried/more_samples_synthetic.py", ["nope"], ["unknown variant 'nope'"]),
    ("latency_predictors/tried/onehot_ceiling.py", ["{tmp}/nope"], ["nope", "not a directory"]),
    ("latency_predictors/tried/query_variance.py", ["nope"], ["cache_nope.pkl", "no such file"]),
    ("latency_predictors/tried/ridge20.py", ["nope"], ["unknown space 'nope'"]),
    ("latency_predictors/tried/roofline.py", ["x"], ["N 'x'"]),
    ("latency_predictors/tried/roofline_blend.py", ["ct-nb"], ["benchmark 'ct-nb'", "FBNet"]),
]


# the dropped experiments' (tried/) behind -m slow: a process each, 20 of them, kept as a record
@pytest.mark.parametrize("path, args, words", [
    pytest.param(*case, marks=pytest.mark.slow) if "/tried/" in case[0] else case for case in _BAD_LATENCY_INPUTS])
def test_latency_experiments_bad_input_is_one_line(tmp_path, path, args, words):
    """Bad input to the latency experiments, dropped ones (tried/) too, is one line before the work (run in an empty
    folder: the tried/ scripts read and write there)."""
    one_line(script(path, *(str(a).format(tmp=tmp_path) for a in args), cwd=tmp_path, timeout=60), *words)


@pytest.mark.parametrize("path, args", [("latency_predictors/tried/blend_cache.py", ["ct-nb"]),
                                        ("latency_predictors/tried/inner_loop.py", ["base", "ct-nb"])])
def test_tried_scripts_write_nothing_into_the_tree(path, args):
    """blend_cache.py and inner_loop.py write into the working folder: started in the repository, they refuse."""
    before = sorted(p.name for p in REPO.iterdir())
    one_line(script(path, *args, cwd=REPO, timeout=60), "working folder", "inside the source tree")
    assert sorted(p.name for p in REPO.iterdir()) == before


@pytest.mark.slow
def test_tried_scripts_name_a_cache_cut_short(tmp_path):
    """A cache of blend_cache.py cut short (a copy, a kill before its writes were atomic) is named, not unpickled into a
    traceback."""
    (tmp_path / "cache_ct-nb.pkl").write_bytes(pickle.dumps([{"ym": list(range(1000)), "loo": {}, "qp": {}}])[:200])
    for path, args in (("blend_variants.py", ["base"]), ("calibrated.py", ["prior"]), ("cost_features.py", ["curve"])):
        one_line(script(f"latency_predictors/tried/{path}", *args, "ct-nb", cwd=tmp_path, timeout=60),
                 "cache_ct-nb.pkl", "not a task cache", "blend_cache.py ct-nb again")


def test_numbers_refuse_what_is_not_finite(tmp_path):
    one_line(script("specialize/search_quality.py", *SMALL_SEARCH, "--percentiles", "nan", "--out", tmp_path / "q"),
             "--percentiles", "'nan'")
