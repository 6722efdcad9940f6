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
    max_retries: int = 0,
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
        _check_feasible(ray.cluster_resources(), num_cpus, num_gpus, resources or {})
        task = ray.remote(_call).options(num_cpus=num_cpus, num_gpus=num_gpus, resources=dict(resources or {}),
                                         max_retries=max_retries)
        fn_ref = ray.put(fn)  # one copy of a large partial (e.g. holding a config) in the object store
        refs = [task.remote(fn_ref, arch) for arch in archs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    results[index[ref]] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    for other in pending:
                        ray.cancel(other)
                    raise exc.cause from None
            if progress is not None:
                progress(len(refs) - len(pending), len(refs))
        return results
    finally:
        connection.close()


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


def _check_feasible(cluster: Mapping[str, float], num_cpus: float, num_gpus: float,
                    resources: Mapping[str, float]) -> None:
    """Fail at once, naming the resource, instead of letting Ray wait forever for a node that does not exist."""
    needs = {"CPU": num_cpus, "GPU": num_gpus, **resources}
    for name, amount in needs.items():
        if amount > 0 and cluster.get(name, 0) < amount:
            raise NasedgeError(f"no node of the Ray cluster offers {amount:g} {name!r} per task "
                               f"(the cluster has {cluster.get(name, 0):g}); known resources: "
                               f"{', '.join(sorted(cluster))}")
