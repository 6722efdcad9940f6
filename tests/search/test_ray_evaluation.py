"""Candidate evaluation as Ray tasks, on a real local Ray instance and a real second one joined by address."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap

import pytest

from nasedge.errors import NasedgeError
from nasedge.search.proxies import ProxyLatency
from nasedge.search.ray_evaluation import evaluate_candidates
from nasedge.spaces import get_space

ray = pytest.importorskip("ray")
SPACE = get_space("ofa_mbv3_cifar")
SMALL = {"num_cpus": 2, "object_store_memory": 80 * 2**20}


def test_uses_the_callers_ray_and_returns_results_in_order(ray_cluster):
    archs = SPACE.sample_many(5, 0)
    latency = ProxyLatency(SPACE)
    seen = []
    results = evaluate_candidates(archs, latency.latency, progress=lambda done, total: seen.append((done, total)))
    assert results == [latency.latency(a) for a in archs]
    assert seen[-1] == (5, 5) and len(seen) >= 1
    assert ray.is_initialized()  # the caller's, so left running
    assert evaluate_candidates([], latency.latency) == []


def _assigned_cpus(arch):
    return ray.get_runtime_context().get_assigned_resources().get("CPU")


def test_auto_cpus_give_a_lone_cpu_task_the_whole_machine(ray_cluster):
    archs = SPACE.sample_many(3, 0)  # the session cluster's largest node (its head) has 2 CPUs, as SMALL
    assert evaluate_candidates(archs[:1], _assigned_cpus, num_cpus="auto", init_options=SMALL) == [2.0]
    assert evaluate_candidates(archs, _assigned_cpus, num_cpus="auto", init_options=SMALL) == [1.0, 1.0, 1.0]


HEAD = textwrap.dedent("""
    import sys, ray
    ctx = ray.init(num_cpus=1, resources={"device:test-board": 1}, include_dashboard=False,
                   object_store_memory=80 * 2**20)
    print(ctx.address_info["gcs_address"], ray.get_runtime_context().get_node_id(), flush=True)
    sys.stdin.read()  # run until the test closes stdin
    ray.shutdown()
""")
# Ray reads RAY_AUTH_MODE when it is imported, and a token-secured cluster (Ray's default) is joined by
# explicit address only with RAY_AUTH_MODE=token: so the joining side is a process of its own, as a
# user's `nasedge ... --ray-address` would be.
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def cluster():
    """A Ray instance in a process of its own, with a custom resource naming a device it owns."""
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**ENV, "RAY_ADDRESS": "local"})  # not the latest cluster started on this machine
    try:
        address, node_id = head.stdout.readline().split()
        yield address, node_id
    finally:
        head.stdin.close()
        head.wait(timeout=60)


def _join(address: str, body: str, **env: str) -> str:
    """Run ``body`` in a fresh process that has ``evaluate_candidates``, ``SPACE`` and ``ADDRESS``; its stdout."""
    code = textwrap.dedent("""
        import functools, json
        import ray
        from nasedge.errors import NasedgeError
        from nasedge.search.ray_evaluation import evaluate_candidates
        from nasedge.spaces import get_space
        SPACE, ADDRESS = get_space("ofa_mbv3_cifar"), {address!r}
    """).format(address=address) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], env={**ENV, **env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.slow  # a Ray instance of its own, in a process of its own; test_uses_the_callers_ray_... is the twin
def test_starts_local_ray_by_itself_and_returns_results_in_order():
    out = _join("local", """
        from nasedge.search.proxies import ProxyLatency
        before = ray.is_initialized()
        archs, latency, seen = SPACE.sample_many(5, 0), ProxyLatency(SPACE), []
        results = evaluate_candidates(archs, latency.latency, init_options={small!r},
                                      progress=lambda done, total: seen.append((done, total)))
        print(json.dumps({{"before": before, "in_order": results == [latency.latency(a) for a in archs],
                          "seen": seen, "after": ray.is_initialized(),
                          "empty": evaluate_candidates([], latency.latency)}}))
    """.format(small=SMALL), RAY_ADDRESS="local")  # a new instance, not the latest cluster started on this machine
    result = json.loads(out)
    assert result["before"] is False
    assert result["in_order"] is True
    assert result["seen"][-1] == [5, 5] and len(result["seen"]) >= 1
    assert result["after"] is False  # started here, so stopped here
    assert result["empty"] == []


# In-process twins of the three tests below, on the session's cluster that this process is connected to
def test_routes_tasks_to_the_node_owning_the_device(ray_cluster):
    cluster, node_id = ray_cluster

    def where(arch):  # a local function travels by value to the workers
        import ray as r
        return [arch.resolution, r.get_runtime_context().get_node_id()]

    archs = SPACE.sample_many(3, 1)
    got = evaluate_candidates(archs, where, ray_address=cluster.address, resources={"device:test-board": 0.5})
    assert got == [[a.resolution, node_id] for a in archs]


def test_task_errors_come_back_as_themselves_in_process(ray_cluster):
    other = get_space("ofa_mbv3_w1.0")
    with pytest.raises(NasedgeError, match="field 'space': value 'ofa_mbv3_cifar' is not allowed; "
                                           "expected 'ofa_mbv3_w1.0'"):
        evaluate_candidates(SPACE.sample_many(2, 2), functools.partial(other.validate),
                            ray_address=ray_cluster[0].address)


def test_missing_resources_fail_at_once_in_process(ray_cluster):
    address, out = ray_cluster[0].address, []
    for kwargs in ({"resources": {"device:jetson": 1}}, {"num_gpus": "two"}, {"num_gpus": 1}):
        with pytest.raises(NasedgeError) as exc:
            evaluate_candidates(SPACE.sample_many(1, 3), str, ray_address=address, **kwargs)
        out.append(str(exc.value))
    assert out[0].startswith("no node of the Ray cluster offers 1 'device:jetson' per task")
    assert "num_gpus: value 'two' is not valid" in out[1]
    assert out[2].startswith("no node of the Ray cluster offers 1 'GPU'")


@pytest.mark.slow  # joins a cluster by address from a process of its own
def test_joins_a_cluster_and_routes_tasks_to_the_node_owning_the_device(cluster):
    address, node_id = cluster
    out = _join(address, """
        def where(arch):  # a local function travels by value to the workers
            import ray as r
            return [arch.resolution, r.get_runtime_context().get_node_id()]
        archs = SPACE.sample_many(3, 1)
        got = evaluate_candidates(archs, where, ray_address=ADDRESS, resources={"device:test-board": 0.5})
        print(json.dumps({"got": got, "want": [a.resolution for a in archs], "after": ray.is_initialized()}))
    """)
    result = json.loads(out)
    assert result["got"] == [[r, node_id] for r in result["want"]]
    assert result["after"] is False


@pytest.mark.slow
def test_task_errors_come_back_as_themselves(cluster):
    out = _join(cluster[0], """
        other = get_space("ofa_mbv3_w1.0")
        try:  # an ArchError (a NasedgeError) raised inside the task
            evaluate_candidates(SPACE.sample_many(2, 2), functools.partial(other.validate), ray_address=ADDRESS)
        except NasedgeError as exc:
            print(exc)
    """)
    assert "field 'space': value 'ofa_mbv3_cifar' is not allowed; expected 'ofa_mbv3_w1.0'" in out


@pytest.mark.slow
def test_missing_resources_fail_at_once(cluster):
    out = _join(cluster[0], """
        for kwargs in ({"resources": {"device:jetson": 1}}, {"num_gpus": "two"}, {"num_gpus": 1}):
            try:
                evaluate_candidates(SPACE.sample_many(1, 3), str, ray_address=ADDRESS, **kwargs)
            except NasedgeError as exc:
                print(exc)
    """).splitlines()
    assert len(out) == 3
    assert out[0].startswith("no node of the Ray cluster offers 1 'device:jetson' per task")
    assert "num_gpus: value 'two' is not valid" in out[1]
    assert out[2].startswith("no node of the Ray cluster offers 1 'GPU'")


@pytest.mark.gpu
def test_tasks_get_a_gpu_where_there_is_one():
    out = _join("local", """
        def visible(arch):
            import torch
            return torch.cuda.is_available()
        print(json.dumps(evaluate_candidates(SPACE.sample_many(2, 4), visible, init_options={small!r})))
    """.format(small=SMALL), RAY_ADDRESS="local")  # the session's cluster has no GPU
    assert json.loads(out) == [True, True]


def test_a_task_lost_to_the_system_is_run_again(ray_cluster, tmp_path):
    # a worker that dies mid-task (as on a node that died) is the system's failure: the evaluation, idempotent,
    # runs again; before, max_retries=0 gave Ray's WorkerCrashedError as a traceback
    def crash_once(arch, marks=str(tmp_path)):
        import os
        from pathlib import Path

        mark = Path(marks) / arch.digest()
        if not mark.exists():
            mark.touch()
            os._exit(1)
        return arch.resolution

    archs = SPACE.sample_many(2, 5)
    assert evaluate_candidates(archs, crash_once) == [a.resolution for a in archs]


def test_a_task_lost_every_time_is_one_error_keeping_what_finished(ray_cluster, tmp_path):
    from nasedge.search.ray_evaluation import EvaluationFailed

    archs = SPACE.sample_many(2, 6)

    def lost(arch, doomed=archs[1].digest(), marks=str(tmp_path)):
        import os
        import time
        from pathlib import Path

        if arch.digest() != doomed:
            (Path(marks) / "done").touch()
            return arch.resolution
        while not (Path(marks) / "done").exists():  # the other one finishes first
            time.sleep(0.05)
        time.sleep(0.5)
        os._exit(1)

    with pytest.raises(EvaluationFailed) as info:
        evaluate_candidates(archs, lost, max_retries=1)
    assert str(info.value).startswith("an evaluation task was lost on the Ray cluster (tried 2 times): "
                                      "WorkerCrashedError")
    assert "\n" not in str(info.value)
    assert info.value.finished == {0: archs[0].resolution}
