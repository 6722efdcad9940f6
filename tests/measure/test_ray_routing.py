"""Ray routing on a real two-node cluster on this machine: measurements go only where the device is."""

from __future__ import annotations

import time

import pytest

from nasedge.errors import NasedgeError
from nasedge.measure import Device, lookup_table_parts, measure_lookup_table
from nasedge.spaces import get_space

ray = pytest.importorskip("ray")


@pytest.fixture
def cluster(ray_cluster):
    """Head node without device resources; a second node offering device:test-dev (one per session)."""
    return ray_cluster


def test_measurements_run_only_on_the_device_node(cluster, device_config):
    c, device_node = cluster
    head_node = c.head_node.node_id
    device = Device.from_config({**device_config("test-dev", where="ray"),
                                 "measure": {**device_config()["measure"], "protocol": {
                                     **device_config()["measure"]["protocol"], "group_size": 2}}})
    archs = get_space("ofa_mbv3_cifar").sample_many(5, 1)
    got = device.measure(archs, arch_ids=list("abcde"))
    assert [m.arch for m in got] == archs and [m.arch_id for m in got] == list("abcde")
    assert {m.node for m in got} == {f"ray:{device_node}"} != {f"ray:{head_node}"}  # 3 chunks, all there
    assert all(m.median_ms > 0 and m.device == "test-dev" for m in got)
    parts = lookup_table_parts("ofa_mbv3_cifar", [24])[:4]
    stats, nodes = device.measure_workloads(parts)
    assert len(stats) == 4 and set(nodes) == {f"ray:{device_node}"}


def test_missing_device_resource_fails_fast(cluster, device_config):
    device = Device.from_config(device_config("nowhere", where="ray"))
    t = time.perf_counter()
    with pytest.raises(NasedgeError, match=r"no node of the Ray cluster offers resource device:nowhere; .*ray start "
                                           r"--address=HEAD:6379 --resources='\{\"device:nowhere\": 1\}'"):
        device.measure(get_space("ofa_mbv3_cifar").sample_many(1, 0))
    assert time.perf_counter() - t < 5


def test_errors_on_the_node_come_back_as_one_line(cluster, device_config):
    device = Device.from_config(device_config("test-dev", where="ray", runtime="tvm"))
    with pytest.raises(NasedgeError, match="device test-dev .*unknown runtime 'tvm'"):
        device.measure(get_space("ofa_mbv3_cifar").sample_many(1, 0))
    table_device = Device.from_config(device_config("test-dev", where="ray"))
    with pytest.raises(NasedgeError, match="resolution 30 is not in space"):
        measure_lookup_table(table_device, "ofa_mbv3_cifar", [30])


def test_a_group_on_a_ray_node_keeps_its_rounds_on_the_driver(cluster, device_config, tmp_path, kill_after_rounds):
    from nasedge.measure import measure_to_csv, read_measurements_csv
    from nasedge.measure.round_journal import RoundJournal, journal_path

    _, device_node = cluster
    config = device_config("test-dev", where="ray", runtime="onnxruntime")
    config["measure"]["protocol"].update(group_size=3, min_rounds=3, max_rounds=3)
    device = Device.from_config(config)
    rows = [(str(i), a) for i, a in enumerate(get_space("ofa_mbv3_tiny").sample_many(3, 0, unique=True))]
    csv = tmp_path / "lat.csv"
    journal = journal_path(csv, "test-dev")
    timed = kill_after_rounds(2)  # the driver dies right after the node's second round is kept
    with pytest.raises(kill_after_rounds.Killed):
        measure_to_csv(device, rows, csv)
    assert not csv.exists() and RoundJournal(journal, "test-dev", []).kept() == {
        f"{i}:{a.digest()}": 2 for i, a in rows}

    timed.clear()
    got = measure_to_csv(device, rows, csv)
    assert timed == [3]  # the node was sent the six rounds kept and timed the one still needed
    assert [m.stats.rounds for m in got] == [3, 3, 3] and {m.node for m in got} == {f"ray:{device_node}"}
    assert read_measurements_csv(csv) == got and not journal.exists()
