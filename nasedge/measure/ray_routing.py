"""Measurements on a device that lives on another machine: a Ray task on the node that owns it.

The node that holds the hardware joins the cluster with a resource naming the device::

    ray start --address=HEAD:6379 --resources='{"device:jetson-orin": 1}'

and every measurement for that device runs as a Ray task demanding one unit of that resource, so it
can only be scheduled there, one at a time (measurements never overlap on the device). The measurer
is built on that node from the device's ``measure`` section (threads and cores refer to that machine).

A group timed there keeps its rounds where the driver keeps them (the round journal beside the CSV): the
task streams each round back as the group times it, and starts from the rounds the driver restored. A
driver killed mid-group then loses the round in flight, as with a device measured in this process.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.measure.protocol import LatencyStats, NoisyRefused, Round, RoundLog
from nasedge.measure.workload import Workload


class DeviceUnreachable(NasedgeError):
    """The device's Ray node cannot be reached (no cluster joined, or no node of it offers the device's resource):
    a command that can do without measuring (``--measurements``) says so where it catches this."""


def join_command(resource: str, address: str = "HEAD:6379") -> str:
    return f"ray start --address={address} --resources='{{\"{resource}\": 1}}'"


def connect(device: str, resource: str, address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (or ``RAY_ADDRESS``, or a cluster running on this machine)."""
    from nasedge.ray_cluster import RayUnavailable, connect

    try:
        connect(address, start_local=False, logging_level="ERROR")
    except RayUnavailable as exc:
        if exc.address == "auto":  # no address given: say how to give one
            raise DeviceUnreachable(
                f"device {device} is measured on a Ray node with resource {resource}, but no Ray cluster is running "
                f"here; pass the head's address with --ray-address HEAD:6379 (or set RAY_ADDRESS), the machine that "
                f"holds the device having joined it with `{join_command(resource)}`") from None
        raise DeviceUnreachable(f"device {device} is measured on a Ray node with resource {resource}, but cannot "
                                f"join the Ray cluster at {exc.address} ({exc.reason}{exc.hint})") from None


def check_resource(device: str, resource: str) -> None:
    """Fail at once (instead of a task waiting forever) when no node of the cluster offers ``resource``."""
    import ray

    if ray.cluster_resources().get(resource, 0) < 1:
        address = _head_address()
        raise DeviceUnreachable(f"device {device}: no node of the Ray cluster at {address} offers resource "
                                f"{resource}; join the machine that holds it with `{join_command(resource, address)}`")


def _head_address() -> str:
    """The joined cluster's head, as ``ray start --address=`` takes it (a placeholder where Ray does not say)."""
    import ray

    try:
        return ray.get_runtime_context().gcs_address or "HEAD:6379"
    except Exception:  # the cluster gone with the node: the placeholder still says what to run
        return "HEAD:6379"


class _StreamedLog:
    """A :class:`RoundLog` on the device's node: rounds restored from what the driver kept, and each round
    timed handed to the task, which streams it to the driver before the next round is timed."""

    def __init__(self, restored: Sequence[Sequence[Round]], out: queue.Queue):
        self.restored, self.out = restored, out

    def restore(self, runner: int) -> list[Round]:
        return list(self.restored[runner])

    def record(self, rounds: dict[int, Round]) -> None:
        sent = threading.Event()
        self.out.put(("round", rounds, sent))
        sent.wait()  # nothing is timed while the round goes out


def _measure_here(section: Mapping[str, Any], workloads: Sequence[Workload],
                  restored: Sequence[Sequence[Round]] | None) -> Iterator[tuple]:
    """Runs on the device's node (a streaming task): builds the measurer there and measures. Yields
    ``("round", {runner: Round})`` as a group times each round, when ``restored`` (the rounds kept before,
    per workload) is given and the measurer keeps rounds; then ``("stats", node id, stats)``."""
    import ray

    from nasedge.measure.measurer import instantiate_measurer

    measurer = instantiate_measurer(section)
    node = ray.get_runtime_context().get_node_id()
    if restored is None or not measurer.keeps_rounds:
        yield "stats", node, measurer.measure(workloads)
        return
    out: queue.Queue = queue.Queue()
    result: dict[str, Any] = {}

    def work() -> None:  # the measurement, in a thread of its own: record() is called deep inside it
        try:
            result["stats"] = measurer.measure(workloads, log=_StreamedLog(restored, out))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the task below
            result["error"] = exc
        out.put(("done", None, None))

    thread = threading.Thread(target=work, name="nasedge-measure", daemon=True)
    thread.start()
    while True:
        kind, rounds, sent = out.get()
        if kind == "done":
            break
        yield "round", rounds
        sent.set()
    thread.join()
    if "error" in result:
        raise result["error"]
    yield "stats", node, result["stats"]


def measure_on_node(device: str, resource: str, section: Mapping[str, Any], workloads: Sequence[Workload],
                    log: RoundLog | None = None) -> tuple[str, list[LatencyStats]]:
    """Measure ``workloads`` on the node holding ``resource``; returns (its node id, the stats). ``log``: the
    rounds of the group, restored from and recorded to it as they come back (when the node's measurer keeps
    rounds)."""
    import ray
    from ray.exceptions import RayError

    task = ray.remote(_measure_here).options(resources={resource: 1}, num_cpus=0, max_retries=0,
                                             num_returns="streaming", name=f"nasedge-measure:{device}")
    restored = None if log is None else [log.restore(i) for i in range(len(workloads))]
    stream = task.remote(dict(section), list(workloads), restored)
    ended = False  # the task ended by itself; otherwise (Ctrl-C, a failed write of a round) it is stopped
    try:
        for ref in stream:
            item = ray.get(ref)
            if item[0] == "round":
                log.record(item[1])
            else:
                ended = True
                return item[1], item[2]
        raise NasedgeError(f"device {device}: the measurement on its Ray node ended without its results")
    except RayError as exc:
        ended = True
        cause = getattr(exc, "cause", None)
        if isinstance(cause, NasedgeError):  # a refusal of noisy results stays one: the driver drops its rounds
            kind = NoisyRefused if isinstance(cause, NoisyRefused) else NasedgeError
            raise kind(f"device {device} (on its Ray node): {cause}") from None
        if isinstance(exc, ray.exceptions.RayTaskError):  # the measurement's own failure, raised on the node
            raise NasedgeError(f"device {device}: measurement on its Ray node failed: "
                               f"{str(exc).strip().splitlines()[-1]}") from None
        raise NasedgeError(node_lost(device, resource, exc, log is not None, _head_address())) from None
    finally:
        if not ended:  # force: its worker is ended with it, so no timing thread outlives it on the device
            ray.cancel(stream, force=True)
            _wait_ended(stream)


def node_lost(device: str, resource: str, exc: BaseException, kept: bool, address: str = "HEAD:6379") -> str:
    """What a measurement lost to the system (``exc``, Ray's error: its node died, its worker crashed or was
    killed for memory) says; ``kept``: its rounds were streamed to the driver's journal; ``address``: the head's."""
    from ray.exceptions import NodeDiedError

    from nasedge.ray_cluster import lost_words

    kept_words = "what was measured so far is kept, the rounds of the group in flight too: " if kept else ""
    rerun = "rerun the same command to resume" if kept else "rerun the same command"
    if isinstance(exc, NodeDiedError):
        return (f"device {device}: its Ray node was lost while measuring ({lost_words(exc)}); {kept_words}start the "
                f"node again (`{join_command(resource, address)}`) and {rerun}")
    return (f"device {device}: the measuring worker on its Ray node was lost ({lost_words(exc)}: it crashed, or was "
            f"killed, e.g. for memory); {kept_words}{rerun}")


CANCEL_WAIT_S = 10.0  # a stopped task's stream ends within tens of milliseconds; past this, stop waiting


def _wait_ended(stream) -> None:
    """Return once a stopped task's stream has ended (or after :data:`CANCEL_WAIT_S`): until then its worker may
    still be exiting, and a task this driver sends next for the device (a resumed group) may be handed to it and
    fail as "the worker died unexpectedly" (seen once in CI, in the resume of test_ray_routing)."""
    import ray
    from ray.exceptions import RayError

    deadline = time.monotonic() + CANCEL_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        ready, _ = ray.wait([stream], timeout=left)
        if not ready:
            return
        try:
            ray.get(next(stream))
        except (RayError, StopIteration):
            return
