"""True accuracy of finalists: extract from the supernet, recalibrate BatchNorm, evaluate on the test split.

:func:`evaluate_finalists` runs one :func:`evaluate_subnet` per arch, as Ray tasks (on GPUs where the
cluster has them) or in this process; each returns the top-1 and the recalibrated subnet's weights, so
that the export writes exactly the network that was evaluated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from nasedge.arch import Arch


@dataclass
class SubnetEvaluation:
    arch: Arch
    top1: Optional[float]  # None: not evaluated (``where`` says why); the accuracy is predicted only
    test_images: int
    recalibration_images: int
    state_dict: dict  # the recalibrated static subnet's weights (CPU tensors)
    seconds: float
    where: str  # "local" or "ray:<node id>", or why it was not evaluated


def evaluation_check(num_classes: int, data: Any, data_given: bool) -> str:
    """Whether finalists of a supernet with ``num_classes`` classes can be evaluated on ``data`` (a DataConfig):
    "" when they can, else why their accuracy is predicted only.

    Data the user gave (``data_given``) of another class count is an error naming both counts; the configured
    default data of another class count (CIFAR-10 for an imported ImageNet supernet) means no evaluation.
    """
    from nasedge.data import dataset_classes
    from nasedge.errors import NasedgeError

    data_classes = len(dataset_classes(data))
    if data_classes == num_classes:
        return ""
    if data_given:
        raise NasedgeError(f"the supernet has {num_classes} classes, the evaluation data {data.path} has "
                           f"{data_classes}: pass data of the supernet's classes, or fine-tune it on this data "
                           f"first (nasedge train train.init_from=...)")
    return (f"no evaluation data of the supernet's {num_classes} classes was given (the configured data has "
            f"{data_classes}); pass --data <folder with train/ and val/> to evaluate the pick")


def unevaluated(supernet: Any, arch: Arch, reason: str) -> SubnetEvaluation:
    """The pick as extracted (BatchNorm statistics as the supernet stores them), its accuracy predicted only."""
    state = {k: v.detach().cpu().contiguous() for k, v in supernet.extract(arch).state_dict().items()}
    return SubnetEvaluation(arch, None, 0, 0, state, 0.0, f"not evaluated: {reason}")


def evaluate_subnet(arch: Arch, *, supernet_path: str, data: dict, test_images: Optional[int],
                    test_seed: int = 0, progress: Optional[Callable[[int, int], None]] = None) -> SubnetEvaluation:
    """Top-1 (percent) of ``arch`` extracted from the supernet at ``supernet_path``, BN recalibrated first.

    ``data`` is a :class:`nasedge.data.DataConfig` as a dict; ``test_images`` a seeded subset of the test
    split (None: all of it). Runs anywhere nasedge is installed (a Ray worker included). ``progress``: that of
    :func:`~nasedge.supernet.accuracy.evaluate_arch` (images done, in all), per batch.
    """
    import time

    import torch

    from nasedge.data import DataConfig, load_evaluation_data
    from nasedge.supernet.accuracy import evaluate_arch
    from nasedge.supernet import load_supernet

    start = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where, cpus = _ray_placement()
    if cpus:
        # Ray starts workers with one intra-op thread; a task given n CPUs should use them
        torch.set_num_threads(cpus)
    cfg = DataConfig(**data)
    recal, test = load_evaluation_data(cfg, test_images, test_seed)
    # a static subnet in channels-last runs about 2x faster than NCHW on CPU too (25 vs 47 s for 2,000 + 2,000
    # images of a 70 M MAC subnet on one loaded core)
    subnet = load_supernet(supernet_path).extract(arch).to(device, memory_format=torch.channels_last)
    top1 = evaluate_arch(subnet, arch, recal.to(device), test.to(device), cfg, channels_last=True, progress=progress)
    state = {k: v.detach().cpu().contiguous() for k, v in subnet.state_dict().items()}
    return SubnetEvaluation(arch, float(top1), len(test), int(recal.shape[0]), state,
                            time.perf_counter() - start, where)


def _ray_placement() -> tuple[str, int]:
    """(``"ray:<node>"``, CPUs assigned to this task) inside a Ray worker; (``"local"``, 0) elsewhere."""
    try:
        import ray

        if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
            ctx = ray.get_runtime_context()
            return f"ray:{ctx.get_node_id()[:12]}", int(ctx.get_assigned_resources().get("CPU", 0))
    except Exception:  # ray missing or not a worker: a local evaluation
        pass
    return "local", 0


def evaluate_finalists(archs: Sequence[Arch], *, supernet_path: str, data: Any, test_images: Optional[int],
                       use_ray: bool, ray_address: Optional[str] = None,
                       progress: Optional[Callable[[int, int], None]] = None) -> list[SubnetEvaluation]:
    """:func:`evaluate_subnet` for each arch: Ray tasks (``use_ray``; GPUs when present) or in this process.

    ``progress(done, len(archs))``: in this process, per batch, the arch in flight counted as its share of its images
    (one arch is minutes on a CPU); Ray tasks report when each is done."""
    fn = functools.partial(evaluate_subnet, supernet_path=str(supernet_path),
                           data=asdict(data) if not isinstance(data, dict) else dict(data), test_images=test_images)
    if not use_ray:
        results = []
        for i, arch in enumerate(archs):
            # the last batch reports done == total: arch i + 1 done
            share = None if progress is None else lambda done, total, i=i: progress(i + done / total, len(archs))
            results.append(fn(arch, progress=share))
        return results
    from nasedge.search.ray_evaluation import evaluate_candidates

    return evaluate_candidates(list(archs), fn, ray_address=ray_address, progress=progress, num_cpus="auto",
                               init_options={"logging_level": "ERROR"})
