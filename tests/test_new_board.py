"""Bring your own board (issue 16): the new-user transcript on a fresh ``NASEDGE_HOME``.

``devices add`` -> ``predictor archs`` -> ``measure`` -> ``predictor fit`` -> ``specialize`` under a budget
that binds -> ``serve`` + ``POST /v1/devices`` -> ``specialize --predictor-url``, each as users type it, and
afterwards nothing written outside the nasedge home and the files the user named (the source tree, the
package and the working folder are compared before and after).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nasedge.client import PredictorClient
from nasedge.predict.dataset import read_device_measurements
from tests.service.conftest import server_process, running  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
SPACE = "ofa_mbv3_cifar"  # the embedded supernet's space
# a short measurement protocol (the transcript checks the flow, not the machine's noise) ...
FAST = ["+device.measure.protocol.max_seconds=1.0", "+device.measure.protocol.min_rounds=2",
        "+device.measure.protocol.max_rounds=5"]
# ... and a short specialization: the shipped supernet, a small search and evaluation
TINY = ["specialize.evaluation=local", "specialize.test_images=100", "specialize.recalibration_images=100",
        "specialize.formats=[torch,onnx]", "search.max_evaluations=60", "specialize.top_k=5"]
_SKIP = {".git", "__pycache__", ".pytest_cache", ".hypothesis"}


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (but caches of Python and pytest) -> (size, mtime in ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP]
        for name in filenames:
            if not name.endswith(".pyc"):
                st = os.stat(os.path.join(dirpath, name))
                out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout


class SourceTree:
    """The source tree (package included) as it was: :meth:`unchanged` says what a run wrote there."""

    def __init__(self):
        self.files, self.status = _files(REPO), _git_status()

    def written(self) -> list[str]:
        now = _files(REPO)
        changed = sorted(k for k in now if self.files.get(k) != now[k])
        drop = [k for k in self.files if k not in now]
        extra = sorted(set(_git_status().splitlines()) - set(self.status.splitlines()))
        return changed + drop + [line for line in extra if "__pycache__" not in line]


def _ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r


def _add_measure_fit(nasedge_cli, work: Path, home: Path, num: int) -> dict:
    """devices add -> predictor archs -> measure -> predictor fit -> devices show: the board's ranges."""
    r = _ok(nasedge_cli("devices", "add", "my-board", "--runtime", "onnxruntime", "--threads", "1", cwd=work))
    device_yaml = home / "conf" / "device" / "my-board.yaml"
    assert str(device_yaml) in r.stdout and device_yaml.is_file()
    r = _ok(nasedge_cli("devices", "--json", cwd=work))
    mine = [json.loads(line) for line in r.stdout.splitlines() if json.loads(line)["name"] == "my-board"]
    assert [(m["source"], m["where"], m["available"]) for m in mine] == [("user", "local", True)]

    r = _ok(nasedge_cli("predictor", "archs", "--space", SPACE, "-n", str(num), cwd=work))
    (work / "archs.jsonl").write_text(r.stdout)  # `nasedge predictor archs ... > archs.jsonl`
    r = _ok(nasedge_cli("measure", "--device", "my-board", "--archs", "archs.jsonl", "--out", "lat.csv", *FAST,
                        cwd=work))
    assert f"my-board: {num} archs in lat.csv" in r.stdout
    r = _ok(nasedge_cli("predictor", "fit", "--device", "my-board", "--measurements", "lat.csv", cwd=work))
    profile = home / "profiles" / f"my-board@{SPACE}.json"
    assert f"{profile}: meta profile of my-board ({SPACE}); cross-validated on its {num} measurements" in r.stdout
    r = _ok(nasedge_cli("predictor", "show", "--device", "my-board", "--json", cwd=work))
    assert json.loads(r.stdout)["source"] == "user"
    r = _ok(nasedge_cli("devices", "show", "my-board", "--json", cwd=work))
    ranges = json.loads(r.stdout)["ranges"][SPACE]
    assert 0 < ranges["min_arch_ms"] < ranges["sampled_max_ms"] <= ranges["max_arch_ms"] * 1.5
    return ranges


def test_new_board_transcript_fast(nasedge_cli, nasedge_home, tmp_path):
    """The transcript up to the service's registration, in this process (the device measured, the profile fitted
    and registered; the specializations are in the slow test below)."""
    tree = SourceTree()
    work = tmp_path / "work"
    work.mkdir()
    _add_measure_fit(nasedge_cli, work, nasedge_home, 10)
    from nasedge.service import create_app
    from nasedge.service.settings import ServiceSettings
    from nasedge.service.auth import create_token

    token, stored = create_token()
    m = read_device_measurements(work / "lat.csv", "my-board")
    with running(create_app(ServiceSettings(write_token_hashes=[stored], cv_folds=5))) as url, \
            PredictorClient(url, token=token) as client:
        info = client.register("my-board", SPACE, zip(m.archs, m.latency_ms), noisy=m.noisy)
        assert info["measurements"] == 10 and info["noisy_measurements"] == int(m.noisy.sum())
        assert set(info["quality"]) >= {"spearman", "mape"}
    assert (nasedge_home / "service" / "profiles.db").is_file()  # the service's default database: in the home
    _ok(nasedge_cli("devices", "remove", "my-board", cwd=work))
    assert sorted(p.name for p in work.iterdir()) == ["archs.jsonl", "lat.csv"]
    assert tree.written() == []


def _measured_on_the_board(manifest: dict) -> bool:
    """The pick was measured on the board: cleanly (``verified`` true) or, on a loaded machine, still flagged noisy
    after its re-measurements (``"noisy"``, with the reason in the report); the transcript checks the workflow, not
    how quiet the CI machine was."""
    measured = manifest["latency_ms"]["measured"]
    return manifest["verified"] in (True, "noisy") and measured is not None and measured > 0


@pytest.mark.slow
def test_new_board_transcript(nasedge_cli, nasedge_home, tmp_path, server_process):  # noqa: F811  (the fixture)
    tree = SourceTree()
    work = tmp_path / "work"
    work.mkdir()
    ranges = _add_measure_fit(nasedge_cli, work, nasedge_home, 10)
    # a budget that binds: below the largest subnet's predicted latency, with room for measurement noise
    budget = round(0.9 * ranges["max_arch_ms"], 2)
    r = _ok(nasedge_cli("specialize", "--device", "my-board", "--latency", f"{budget}ms", "--out", "local",
                        *TINY, *FAST, cwd=work))
    m = json.loads((work / "local" / "manifest.json").read_text())
    assert _measured_on_the_board(m) and m["latency_ms"]["predicted"] <= budget
    assert m["latency_predictor"]["kind"] == "profile" and "(user)" in m["latency_predictor"]["description"]

    # the predictor service, as users start it: its own process, from the source tree, default database
    r = _ok(nasedge_cli("serve", "token", "create", "--file", "tokens", cwd=work))
    token = r.stdout.split("it is not stored anywhere): ")[1].split()[0]
    server = server_process(["-m", "nasedge.cli", "serve", "--port", "0",
                             f"service.token_file={work / 'tokens'}"], log=tmp_path / "serve.log")
    server.wait_ready()
    measured = read_device_measurements(work / "lat.csv", "my-board")
    with PredictorClient(server.url, token=token) as client:
        for name in ("my-board", "lab-board"):  # lab-board: the same board, known only to the service
            info = client.register(name, SPACE, zip(measured.archs, measured.latency_ms), noisy=measured.noisy)
            assert info["source"] == "registered" and info["noisy_measurements"] == int(measured.noisy.sum())
    assert (nasedge_home / "service" / "profiles.db").is_file()

    # a device file here: the service predicts, the board verifies
    _ok(nasedge_cli("specialize", "--device", "my-board", "--predictor-url", server.url, "--latency", f"{budget}ms",
                    "--out", "remote", *TINY, *FAST, cwd=work))
    m = json.loads((work / "remote" / "manifest.json").read_text())
    assert m["latency_predictor"]["kind"] == "remote" and _measured_on_the_board(m)
    # no device file: predicted by the service only, and said so
    r = _ok(nasedge_cli("specialize", "--device", "lab-board", "--predictor-url", server.url, "--latency",
                        f"{budget}ms", "--out", "service-only", *TINY, cwd=work))
    assert "known only to the predictor service" in r.stderr
    m = json.loads((work / "service-only" / "manifest.json").read_text())
    assert m["verified"] is False and "no measurement config is known here" in m["verification"]
    assert "no measurement config is known here" in (work / "service-only" / "report.md").read_text()

    assert sorted(p.name for p in work.iterdir()) == ["archs.jsonl", "lat.csv", "local", "remote", "service-only",
                                                     "tokens"]
    assert tree.written() == []
