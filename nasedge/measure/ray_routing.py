"""Measurements on a device that lives on another machine: a Ray task on the node that owns it.

The node that holds the hardware joins the cluster with a resource naming the device::

    ray start --address=HEAD:6379 --resources='{"device:jetson-orin": 1}'

and every measurement for that device runs as a Ray task demanding one unit of that resource, so it
can only be scheduled there, one at a time (measurements never overlap on the device). The measurer
is built on that node from the device's ``measure`` section (threads and cores refer to that machine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import LatencyStats
from nasedge.measure.workload import Workload


def how_to_connect(device: str, resource: str) -> str:
    return (f"start the machine that holds it as a Ray node with `ray start --address=HEAD:6379 "
            f"--resources='{{\"{resource}\": 1}}'` and pass --ray-address HEAD:6379 (or set RAY_ADDRESS), "
            f"or give measurements taken elsewhere with --measurements FILE.csv")


def connect(device: str, resource: str, address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or ``RAY_ADDRESS``, or a cluster running on this machine)."""
    from nasedge.ray_cluster import RayUnavailable, connect

    try:
        connect(address, start_local=False, logging_level="ERROR")
    except RayUnavailable as exc:
        where = "no Ray cluster is running here" if exc.address == "auto" else \
            f"cannot join the Ray cluster at {exc.address} ({exc.reason})"
        raise NasedgeError(f"device {device} is measured on a Ray node with resource {resource}, but {where}; "
                           f"{how_to_connect(device, resource)}") from None


def check_resource(device: str, resource: str) -> None:
    """Fail at once (instead of a task waiting forever) when no node of the cluster offers ``resource``."""
    import ray

    if ray.cluster_resources().get(resource, 0) < 1:
        raise NasedgeError(f"device {device}: no node of the Ray cluster offers resource {resource}; "
                           f"{how_to_connect(device, resource)}")


def _measure_here(section: Mapping[str, Any], workloads: Sequence[Workload]) -> tuple[str, list[LatencyStats]]:
    """Runs on the device's node: build the measurer there and measure."""
    import ray

    from nasedge.measure.measurer import instantiate_measurer

    return ray.get_runtime_context().get_node_id(), instantiate_measurer(section).measure(workloads)


def measure_on_node(device: str, resource: str, section: Mapping[str, Any],
                    workloads: Sequence[Workload]) -> tuple[str, list[LatencyStats]]:
    """Measure ``workloads`` on the node holding ``resource``; returns (its node id, the stats)."""
    import ray
    from ray.exceptions import RayError

    task = ray.remote(_measure_here).options(resources={resource: 1}, num_cpus=0, max_retries=0,
                                             name=f"nasedge-measure:{device}")
    try:
        return ray.get(task.remote(dict(section), list(workloads)))
    except RayError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, NasedgeError):
            raise NasedgeError(f"device {device} (on its Ray node): {cause}") from None
        raise NasedgeError(f"device {device}: measurement on its Ray node failed: "
                           f"{str(exc).strip().splitlines()[-1]}") from None
