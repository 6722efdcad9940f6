"""Joining the Ray cluster of a device: what a failure to join, a missing node or a node lost says."""

from __future__ import annotations

import pytest

from nasedge import ray_cluster
from nasedge.errors import NasedgeError
from nasedge.measure import ray_routing


def test_a_failure_to_join_keeps_the_token_hint(monkeypatch):
    # the message was rebuilt from the address and reason only, dropping how to authenticate
    def refuse(address, **kw):
        raise ray_cluster.RayUnavailable(address, "InvalidAuthToken", " (set RAY_AUTH_MODE=token)")

    monkeypatch.setattr(ray_cluster, "connect", refuse)
    with pytest.raises(NasedgeError, match=r"^device b is measured on a Ray node with resource device:b, but cannot "
                                           r"join the Ray cluster at 10.0.0.1:6379 \(InvalidAuthToken \(set "
                                           r"RAY_AUTH_MODE=token\)\)$"):
        ray_routing.connect("b", "device:b", "10.0.0.1:6379")


def test_a_missing_node_says_how_to_join_this_cluster(ray_cluster):
    # it told users who had joined the cluster to pass --ray-address, and `nasedge measure` users about a
    # --measurements FILE.csv that measure does not have
    cluster, _ = ray_cluster
    with pytest.raises(ray_routing.DeviceUnreachable) as info:
        ray_routing.check_resource("jetson", "device:jetson")
    assert str(info.value) == (f"device jetson: no node of the Ray cluster at {cluster.address} offers resource "
                               f"device:jetson; join the machine that holds it with `ray start "
                               f"--address={cluster.address} --resources='{{\"device:jetson\": 1}}'`")


def test_a_node_lost_while_measuring_says_the_rerun_resumes():
    from ray.exceptions import NodeDiedError

    lost = NodeDiedError(  # as Ray words it (the journey's m3, a worker node killed with -9)
        "Task failed because the node it was running on is dead or unavailable. Node IP: 192.0.2.2, node ID: "
        "708a6665. This can happen if the node was preempted, had a hardware failure, or its raylet crashed "
        "unexpectedly. To see node death information, use `ray list nodes --filter node_id=708a6665`.")
    said = ray_routing.node_lost("my-board", "device:my-board", lost, kept=True)
    assert said.startswith("device my-board: its Ray node was lost while measuring (NodeDiedError: Task failed "
                           "because the node it was running on is dead or unavailable. Node IP: 192.0.2.2")
    assert said.endswith("); what was measured so far is kept, the rounds of the group in flight too: start the node "
                         "again (`ray start --address=HEAD:6379 --resources='{\"device:my-board\": 1}'`) and rerun "
                         "the same command to resume")
    assert "\n" not in said and "To see node death" not in said
    said = ray_routing.node_lost("my-board", "device:my-board", lost, kept=False, address="10.0.0.1:6379")
    assert said.endswith("start the node again (`ray start --address=10.0.0.1:6379 --resources='{\"device:my-board\": "
                         "1}'`) and rerun the same command") and "kept" not in said


def test_a_worker_lost_while_measuring_is_no_lost_node():
    from ray.exceptions import WorkerCrashedError

    said = ray_routing.node_lost("my-board", "device:my-board", WorkerCrashedError(), kept=True)
    assert said.startswith("device my-board: the measuring worker on its Ray node was lost (WorkerCrashedError: ")
    assert said.endswith("it crashed, or was killed, e.g. for memory); what was measured so far is kept, the rounds "
                         "of the group in flight too: rerun the same command to resume")
    assert "start the node again" not in said
