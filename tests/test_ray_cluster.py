"""The one way to Ray: a connection shuts down only a Ray it started; a scope only what started inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nasedge.ray_cluster import RayUnavailable, connect, is_connected, scope

ray = pytest.importorskip("ray")
SMALL = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def _case_connect_starts_a_local_ray_and_close_stops_only_what_it_started():
    assert not is_connected()
    mine = connect(**SMALL)
    try:
        assert mine.started and ray.is_initialized()
        theirs = connect()  # Ray is up already: used as it is
        assert not theirs.started
        theirs.close()
        assert ray.is_initialized()
    finally:
        mine.close()
    assert not ray.is_initialized()


def _case_scope_shuts_down_a_ray_started_inside_and_leaves_the_callers():
    with scope():
        connect(**SMALL)
    assert not ray.is_initialized()
    ray.init(include_dashboard=False, **SMALL)
    try:
        with scope():
            assert not connect().started
        assert ray.is_initialized()
    finally:
        ray.shutdown()


def _case_nothing_to_join_is_one_error():
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():  # a Ray runs on this machine (the test session's cluster): "auto" joins it
        joined = connect(start_local=False)
        assert is_connected()
        joined.close()  # this process's connection ends; the cluster it joined is not ours to stop
        assert not is_connected() and find_gcs_addresses()
        return
    with pytest.raises(RayUnavailable) as info:
        connect(start_local=False)
    assert info.value.address == "auto" and not is_connected()


def _case_a_sigterm_handler_of_the_program_outlives_ray_init():
    import signal

    def mine(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, mine)  # the CLI's (cleanup, one line, exit 143); ray.init replaces it
    connection = connect(**SMALL)
    try:
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        connection.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # none of the program's: Ray's own stays (its shutdown at exit)
    connection = connect(**SMALL)
    try:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        connection.close()


@pytest.mark.parametrize("case", ["connect_starts_a_local_ray_and_close_stops_only_what_it_started",
                                  "a_sigterm_handler_of_the_program_outlives_ray_init",
                                  "scope_shuts_down_a_ray_started_inside_and_leaves_the_callers",
                                  "nothing_to_join_is_one_error"])
def test_ray_cluster(case):
    # each case in a process of its own: it starts and stops Ray, and this process may be connected to the
    # session's cluster (tests/conftest.py), from which a driver cannot disconnect and come back
    # RAY_TMPDIR: a Ray of this machine (the session's) stays out of sight of "auto"
    # (a short path: Ray's socket paths must stay under 108 bytes)
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as tmp:
        env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_TMPDIR": tmp}
        root = Path(__file__).resolve().parents[1]
        code = f"import tests.test_ray_cluster as m; m._case_{case}()"
        done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_messages_of_the_cluster_go_to_stderr_in_one_line(ray_cluster, capfd):
    # Ray prints what the cluster sends the driver (a node that died: its log's last lines or its state dump) from a
    # thread of its own, log_to_driver=False or not; it went to stdout, a command's result stream
    import time

    from ray._private import worker
    from ray._private.utils import publish_error_to_driver

    from nasedge.ray_cluster import _raylet_messages_to_stderr

    printer = worker.print_to_stdstream
    connect().close()  # the caller's Ray (this session's cluster): used as it is, its printing too
    assert worker.print_to_stdstream is printer
    _raylet_messages_to_stderr()  # what connect does where it starts or joins Ray itself (a command's Ray)
    capfd.readouterr()
    dump = "\n".join(f"    [state-dump] line {i}" for i in range(40))
    publish_error_to_driver("test_node_died", f"Raylet is terminated. Termination is unexpected.\n{dump}\n",
                            ray._private.worker.global_worker.gcs_client)
    err, out, deadline = "", "", time.monotonic() + 20
    while "Raylet is terminated" not in err and time.monotonic() < deadline:
        time.sleep(0.1)
        got = capfd.readouterr()
        out, err = out + got.out, err + got.err
    assert "Raylet is terminated. Termination is unexpected." in err
    assert "Raylet" not in out and "[state-dump]" not in out + err
    assert ray.is_initialized()
