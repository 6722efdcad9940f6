"""``nasedge specialize`` never shuts down a Ray its caller started."""

from __future__ import annotations

import pytest

from nasedge.cli import main

ray = pytest.importorskip("ray")


def test_a_ray_the_caller_started_stays_up(tmp_path, capsys):
    ray.init(num_cpus=1, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        # the job joins the caller's Ray to reach the device, finds no node offering it, and fails
        assert main(["specialize", "--device", "jetson-orin", "--latency", "20ms", "--out", str(tmp_path)]) == 2
        assert "no node of the Ray cluster offers resource device:jetson-orin" in capsys.readouterr().err
        assert ray.is_initialized()
    finally:
        ray.shutdown()
