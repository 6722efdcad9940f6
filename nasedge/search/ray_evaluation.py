"""Evaluate candidate archs in parallel as Ray tasks (finalists' true accuracy, device measurements).

``fn`` is any picklable callable taking one :class:`~nasedge.arch.Arch` (a module-level function,
or a :func:`functools.partial` of one carrying the supernet path and data config). Each arch is
one Ray task; tasks ask for a GPU when the cluster has one (``num_gpus="auto"``), and ``resources``
pins them to the node that owns a device (e.g. ``{"device:jetson-orin": 0.001}``, a custom
resource that node advertises) so that a measurement runs where the hardware is.

Ray stays optional: nothing here imports it until :func:`evaluate_candidates` is called, and a
search never needs it. Ray is reached through :mod:`nasedge.ray_cluster`: without ``ray_address`` a
local instance is started for the call (and stopped afterwards) unless the caller already initialised
Ray; with an address the call joins that cluster (``"auto"`` finds a running one).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional, Union

from nasedge.arch import Arch
from nasedge.errors import NasedgeError


def evaluate_candidates(
    archs: Sequence[Arch],
    fn: Callable[[Arch], Any],
    *,
    ray_address: Optional[str] = None,
    num_gpus: Union[float, str] = "auto",
    num_cpus: Union[float, str] = 1,
    resources: Optional[Mapping[str, float]] = None,
    max_retries: int = 3,
    progress: Optional[Callable[[int, int], None]] = None,
    init_options: Optional[Mapping[str, Any]] = None,
) -> list[Any]:
    """``[fn(arch) for arch in archs]``, computed as Ray tasks; results in the order of ``archs``.

    ``num_gpus``: GPUs per task (a fraction shares a GPU), or ``"auto"``: 1 when the cluster has a
    GPU, else 0. ``num_cpus``: CPUs per task, or ``"auto"``: 1 for GPU tasks; CPU-only tasks share the
    cluster's CPUs (at most one node's worth each), so one task on a laptop gets every core rather than
    one. ``progress(done, total)`` is called as tasks finish. An exception raised by ``fn``
    is re-raised here as itself (a :class:`NasedgeError` stays one), except one raised in a plugin's own code:
    its traceback stays on the worker, so it comes back as a :class:`NasedgeError` naming the plugin and the place
    (:func:`nasedge.registry.plugin_failure`), the line the CLI gives for it without Ray.
    ``init_options`` go to ``ray.init`` when this call starts a local instance.

    ``max_retries``: how often a task lost to the system (its node died, its worker crashed) is run again, on a node
    that is still there (an evaluation is idempotent); an exception of ``fn`` is never retried. A task that still
    fails, or that no node left in the cluster can run, is an :class:`EvaluationFailed` (one line), which keeps the
    results that finished.
    """
    if not archs:
        return []
    from nasedge.ray_cluster import connect

    connection = connect(ray_address, **(init_options or {}))
    import ray

    try:
        if num_gpus == "auto":
            num_gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        if isinstance(num_gpus, str) or num_gpus < 0:
            raise NasedgeError(f"num_gpus: value {num_gpus!r} is not valid; expected a number >= 0 or 'auto'")
        if num_cpus == "auto":
            num_cpus = _cpus_per_task(ray, len(archs)) if num_gpus == 0 else 1
        if isinstance(num_cpus, str) or num_cpus <= 0:
            raise NasedgeError(f"num_cpus: value {num_cpus!r} is not valid; expected a number > 0 or 'auto'")
        why = _infeasible(ray.cluster_resources(), num_cpus, num_gpus, resources or {})
        if why:
            raise NasedgeError(why)
        task = ray.remote(_call).options(num_cpus=num_cpus, num_gpus=num_gpus, resources=dict(resources or {}),
                                         max_retries=max_retries)
        fn_ref = ray.put(fn)  # one copy of a large partial (e.g. holding a config) in the object store
        refs = [task.remote(fn_ref, arch) for arch in archs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending, finished = list(refs), {}
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=FEASIBLE_CHECK_S)
                if not done:  # a node left: what it alone offered, a retried task now waits for without end
                    needs = {"CPU": num_cpus, "GPU": num_gpus, **(resources or {})}
                    if not _some_node_offers(ray, needs):
                        raise EvaluationFailed(
                            "no node left in the Ray cluster offers what an evaluation task needs ("
                            + ", ".join(f"{v:g} {k!r}" for k, v in needs.items() if v > 0)
                            + "): a node left the cluster while tasks ran", finished)
                    continue
                for ref in done:
                    try:
                        finished[index[ref]] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        raise exc.cause from None
                    except ray.exceptions.RayError as exc:  # the system's: a node died, a worker crashed
                        raise EvaluationFailed(_system_failure(exc, max_retries), finished) from None
                if progress is not None:
                    progress(len(refs) - len(pending), len(refs))
        except BaseException:
            for other in pending:
                ray.cancel(other)
            raise
        return [finished[i] for i in range(len(refs))]
    finally:
        connection.close()


FEASIBLE_CHECK_S = 5.0  # while tasks run, how often the cluster is checked for a node that can still run them


class EvaluationFailed(NasedgeError):
    """Evaluation as Ray tasks failed for a reason of the system's (a node lost); ``finished``: the results that
    came back first, by the index of their arch."""

    def __init__(self, message: str, finished: dict[int, Any]):
        super().__init__(message)
        self.finished = finished


def _system_failure(exc: Exception, retries: int) -> str:
    """One line for a task the system failed (after ``retries`` retries)."""
    from nasedge.ray_cluster import lost_words

    again = f" (tried {retries + 1} times)" if retries else ""
    return f"an evaluation task was lost on the Ray cluster{again}: {lost_words(exc)}"


def _cpus_per_task(ray: Any, tasks: int) -> int:
    """An equal share of the cluster's CPUs per task, no more than its largest node has."""
    largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=1)
    return int(max(1, min(largest, ray.cluster_resources().get("CPU", 1) // tasks)))


def _call(fn: Callable[[Arch], Any], arch: Arch) -> Any:
    try:
        return fn(arch)
    except Exception as exc:
        from nasedge.registry import plugin_failure

        failure = plugin_failure(exc)  # here, where the traceback that names the plugin still is
        if failure is not None:
            raise NasedgeError(failure) from None
        # Ray sends the exception back pickled; one whose constructor takes other arguments than its
        # message (ArchError) cannot be rebuilt there, so it travels as its base type with its message.
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            kind = NasedgeError if isinstance(exc, NasedgeError) else RuntimeError
            raise kind(str(exc) if kind is NasedgeError else f"{type(exc).__name__}: {exc}") from None
        raise


def _some_node_offers(ray: Any, needs: Mapping[str, float]) -> bool:
    """Whether a node of the cluster alive now offers all of ``needs``."""
    return any(all(node["Resources"].get(name, 0) >= amount for name, amount in needs.items() if amount > 0)
               for node in ray.nodes() if node.get("Alive"))


def _infeasible(cluster: Mapping[str, float], num_cpus: float, num_gpus: float,
                resources: Mapping[str, float]) -> Optional[str]:
    """Why no node can run the tasks (said at once, naming the resource, instead of letting Ray wait forever for a
    node that does not exist), else None."""
    needs = {"CPU": num_cpus, "GPU": num_gpus, **resources}
    for name, amount in needs.items():
        if amount > 0 and cluster.get(name, 0) < amount:
            return (f"no node of the Ray cluster offers {amount:g} {name!r} per task "
                    f"(the cluster has {cluster.get(name, 0):g}); known resources: {', '.join(sorted(cluster))}")
    return None
