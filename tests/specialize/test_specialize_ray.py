"""``nasedge specialize`` never shuts down a Ray its caller started."""

from __future__ import annotations

import pytest

from nasedge.cli import main

ray = pytest.importorskip("ray")


def test_a_ray_the_caller_started_stays_up(tmp_path, capsys, ray_cluster):
    # this process is connected to the session's cluster (the caller's Ray); the job joins it to reach the
    # device, finds no node offering it, and fails, leaving the caller's Ray connected
    assert ray.is_initialized()
    assert main(["specialize", "--device", "jetson-orin", "--latency", "20ms", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no node of the Ray cluster at " in err and " offers resource device:jetson-orin" in err
    assert ray.is_initialized()
    assert ray.cluster_resources().get("CPU", 0) >= 1  # still answering
