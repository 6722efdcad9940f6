"""`nasedge measure` and `nasedge devices` as users run them (in this process: exit codes, output, files)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from nasedge.measure import read_measurements_csv, write_measurements_csv
from nasedge.spaces import get_space

FAST = dict(warmup_runs=1, warmup_s=0.0, round_s=0.001, min_repeats=1, min_rounds=2, max_rounds=3, max_seconds=1.0,
            max_spread=10.0, min_cpu_share=0.0, max_rse=10.0)


@pytest.fixture
def nasedge(nasedge_cli):
    return nasedge_cli


def device_yaml(path, name="toy", **protocol):
    path.write_text(yaml.safe_dump({"name": name, "description": "test", "where": "local", "measure": {
        "_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "onnxruntime", "threads": 1,
        "protocol": {**FAST, **protocol}}}))
    return str(path)


def one_line_error(r, needle):
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_devices_lists_where_each_is_measured(nasedge):
    r = nasedge("devices", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["cpu-ort-t1"]["where"] == "local" and rows["cpu-ort-t1"]["runtime"] == "onnxruntime t1 b1 fp32"
    assert rows["jetson-orin"]["where"] == "ray node with device:jetson-orin"
    assert rows["titan_rtx_64"]["where"] == "predict-only" and "help/ofa:titan_rtx_64" in rows["titan_rtx_64"]["runtime"]
    assert all(isinstance(row["profiles"], list) for row in rows.values())
    r = nasedge("devices")
    assert r.returncode == 0 and "jetson-orin" in r.stdout and "[tensorrt,cuda,cpu]" in r.stdout


def test_measure_writes_resumes_and_reads_arch_files(tmp_path, nasedge):
    dev, out = device_yaml(tmp_path / "toy.yaml"), tmp_path / "lat.csv"
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_cifar", "--num-archs", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    first = read_measurements_csv(out)
    assert len(first) == 2 and all(m.device == "toy" and m.median_ms > 0 for m in first)
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_cifar", "--num-archs", "3", "--out", str(out))
    assert r.returncode == 0 and "2 of 3 archs' worth of timings already taken" in r.stderr
    again = read_measurements_csv(out)
    assert len(again) == 3 and again[:2] == first  # kept, not re-measured
    r = nasedge("measure", "--device", device_yaml(tmp_path / "toy2.yaml", name="toy2"), "--space", "ofa_mbv3_cifar",
                "--num-archs", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert [m.device for m in read_measurements_csv(out)] == ["toy"] * 3 + ["toy2"]  # one file, several devices
    r = nasedge("measure", "--device", dev, "--num-archs", "1", "--out", str(out), "+device.measure.threads=2")
    assert r.returncode == 2 and "device overrides apply to named devices" in r.stderr
    archs = get_space("ofa_mbv3_cifar").sample_many(2, 5)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"arch_id": f"x{i}", **a.to_dict()}) + "\n"
                                              for i, a in enumerate(archs)))
    r = nasedge("measure", "--device", dev, "--archs", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "b.csv"))
    assert r.returncode == 0, r.stderr
    assert [(m.arch_id, m.arch) for m in read_measurements_csv(tmp_path / "b.csv")] == [("x0", archs[0]), ("x1", archs[1])]
    # an arch listed twice was measured twice, into a file `predictor fit` then refused
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"arch_id": f"y{i}", **a.to_dict()}) + "\n"
                                              for i, a in enumerate([archs[0], archs[1], archs[0]])))
    r = nasedge("measure", "--device", dev, "--archs", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "c.csv"))
    assert r.returncode == 0 and "1 arch repeats an earlier one (first: arch y2 is arch y0); each is measured once" in r.stderr
    assert [m.arch_id for m in read_measurements_csv(tmp_path / "c.csv")] == ["y0", "y1"]
    # a later run listing one of them under another id measures only the new arch
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"arch_id": f"z{i}", **a.to_dict()}) + "\n"
                                              for i, a in enumerate([archs[1], get_space("ofa_mbv3_cifar").sample_many(1, 9)[0]])))
    r = nasedge("measure", "--device", dev, "--archs", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "c.csv"))
    assert r.returncode == 0 and "1 of the archs is already measured on toy under another id (first: arch z0 is arch y1" in r.stderr
    assert [m.arch_id for m in read_measurements_csv(tmp_path / "c.csv")] == ["y0", "y1", "z1"]


def test_noisy_results_are_flagged_and_strict_refuses(tmp_path, nasedge):
    dev = device_yaml(tmp_path / "toy.yaml", max_spread=1e-6)  # any real spread is "too noisy"
    out = tmp_path / "lat.csv"
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_cifar", "--num-archs", "1", "--out", str(out))
    assert r.returncode == 0 and "1 of 1 measurements are noisy" in r.stderr
    assert read_measurements_csv(out)[0].noisy
    strict_out = tmp_path / "strict.csv"
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_cifar", "--num-archs", "1", "--out", str(strict_out),
                "--strict")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("nasedge: error: 1 of 1 measurements are noisy (--strict)")
    assert read_measurements_csv(strict_out)[0].noisy  # kept and flagged: no lost work


def test_a_noisy_table_is_said_and_strict_refuses_it(tmp_path, nasedge):
    """--strict was ignored by --table, and its noisy parts were never mentioned (80 of 81 in an audit's run)."""
    dev = device_yaml(tmp_path / "toy.yaml", max_spread=1e-6)
    out = tmp_path / "t.json"
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_tiny", "--table", "--resolutions", "16",
                "--out", str(out), "--strict")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "parts are noisy (field 'noisy' of their entries); first: " in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("nasedge: error: 27 of 27 parts are noisy (--strict)")
    assert len(json.loads(out.read_text())["entries"]) == 27  # kept and flagged: no lost work


def test_measure_errors(tmp_path, nasedge):
    out = str(tmp_path / "x.csv")
    one_line_error(nasedge("measure", "--device", "toaster", "--num-archs", "1", "--out", out),
                   "unknown device 'toaster'; known: ")
    one_line_error(nasedge("measure", "--device", "titan_rtx_64", "--num-archs", "1", "--out", out),
                   "device titan_rtx_64 is predict-only")
    r = nasedge("measure", "--device", "jetson-orin", "--num-archs", "1", "--out", out)
    one_line_error(r, "--resources='{\"device:jetson-orin\": 1}'")
    assert "--measurements" not in r.stderr  # an option of specialize and predictor fit, not of measure
    (tmp_path / "bad.jsonl").write_text('{"arch_id": 1, "space": "ofa_mbv3_cifar"}\n')
    one_line_error(nasedge("measure", "--device", "cpu", "--archs", str(tmp_path / "bad.jsonl"), "--out", out),
                   "bad.jsonl:1: field 'kernel'")
    one_line_error(nasedge("measure", "--device", "cpu", "--num-archs", "0", "--out", out), "--num-archs: value 0")


# `nasedge measure` with every arch it starts recorded in $STARTED (one fsynced line each), as a killed run
# cannot report it; with $HOLD_AT set, the run stops still once that many archs have started, for a kill to land
# there however slow the machine (without it, the 0.5 s the last four archs take could end the run first)
_RECORDING = """
import os, sys, time
from nasedge.measure.measurer import RuntimeMeasurer
measure = RuntimeMeasurer.measure
def recording(self, workloads, artifacts=None):
    fd = os.open(os.environ["STARTED"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, "".join(w.arch.digest() + "\\n" for w in workloads).encode()); os.fsync(fd); os.close(fd)
    hold = int(os.environ.get("HOLD_AT", 0))
    while hold and len(open(os.environ["STARTED"]).read().split()) >= hold:
        time.sleep(1)
    return measure(self, workloads, artifacts)
RuntimeMeasurer.measure = recording
from nasedge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_run_loses_at_most_the_arch_in_flight(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    dev, out = device_yaml(tmp_path / "toy.yaml", round_s=0.03), tmp_path / "lat.csv"
    cmd = [sys.executable, "-c", _RECORDING, "measure", "--device", dev, "--space", "ofa_mbv3_tiny", "--num-archs",
           "6", "--out", str(out)]
    env = {**os.environ, "STARTED": str(tmp_path / "killed.txt")}
    proc = subprocess.Popen(cmd, env={**env, "HOLD_AT": "3"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started_file, deadline = tmp_path / "killed.txt", time.monotonic() + 120
    while (not started_file.exists() or len(started_file.read_text().split()) < 3) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # while the third arch is in flight: two rows kept
    proc.wait()
    kept = read_measurements_csv(out)
    started = (tmp_path / "killed.txt").read_text().split()
    assert len(kept) == 2 and len(started) == 3, (len(kept), started)  # the arch in flight is all that is lost
    r = subprocess.run(cmd, env={**env, "STARTED": str(tmp_path / "rerun.txt")}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"resuming {out}: {len(kept)} of 6 archs' worth of timings already taken" in r.stderr
    again = (tmp_path / "rerun.txt").read_text().split()
    assert len(again) == 6 - len(kept) and len(started + again) - len(set(started + again)) <= 1
    final = read_measurements_csv(out)
    assert final[:len(kept)] == kept and len({m.arch_id for m in final}) == len(final) == 6
    assert not list(tmp_path.glob(".*.tmp"))


def test_sigterm_mid_run_says_so_keeps_the_finished_rows_and_releases_the_output(tmp_path):
    """SIGTERM (a scheduler, `timeout`) ends a verb as Ctrl-C does: one line, its cleanup run, exit 143."""
    import os
    import signal
    import subprocess
    import sys
    import time

    dev, out = device_yaml(tmp_path / "toy.yaml", round_s=0.03), tmp_path / "lat.csv"
    cmd = [sys.executable, "-c", _RECORDING, "measure", "--device", dev, "--space", "ofa_mbv3_tiny", "--num-archs",
           "6", "--out", str(out)]
    started = tmp_path / "started.txt"
    proc = subprocess.Popen(cmd, env={**os.environ, "STARTED": str(started), "HOLD_AT": "3"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (not started.exists() or len(started.read_text().split()) < 3) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.splitlines()[-1] == "nasedge: terminated (SIGTERM)", err
    assert len(read_measurements_csv(out)) == 2
    assert not (tmp_path / ".lat.csv.lock").exists()  # released as at a normal end


def test_strict_and_the_summary_are_about_the_archs_asked_for(tmp_path, nasedge):
    """Rows of earlier runs in the file (one flagged noisy) are neither counted in the summary nor held against
    --strict: it refused a clean run over rows it was not asked to measure."""
    dev = device_yaml(tmp_path / "toy.yaml")
    out = tmp_path / "lat.csv"
    assert nasedge("measure", "--device", dev, "--space", "ofa_mbv3_tiny", "--num-archs", "2", "--out",
                   str(out)).returncode == 0
    rows = read_measurements_csv(out)
    flagged = replace(rows[1], stats=replace(rows[1].stats, noisy=True, reason="a busy machine"))
    write_measurements_csv(out, [rows[0], flagged])
    if rows[0].noisy:
        pytest.skip("this machine was busy: the first arch's measurement was flagged noisy")
    r = nasedge("measure", "--device", dev, "--space", "ofa_mbv3_tiny", "--num-archs", "1", "--out", str(out),
                "--strict")
    assert r.returncode == 0, r.stderr
    assert f"toy: 1 archs in {out} (the file holds 2)" in r.stdout and "0 flagged noisy" in r.stdout
