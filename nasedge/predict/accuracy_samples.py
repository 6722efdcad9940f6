"""Accuracy samples: random subnets of a supernet evaluated after BatchNorm recalibration, one JSON line each.

What ``nasedge accuracy sample`` runs and ``nasedge accuracy fit`` reads (:func:`nasedge.predict.accuracy.
load_accuracy_dataset`; the same lines as ``nasedge eval --out``). It lives with the accuracy predictors
because it is their training data: the protocol is :func:`nasedge.supernet.accuracy.evaluate_arch`, the
one every top-1 in nasedge is measured with.

Durable and resumable: each arch's line is appended and flushed to disk as soon as it is evaluated, and a
rerun with the same seed skips the archs already in the file (a line cut off by a kill is dropped). Where
it runs: in this process (on the GPU when there is one), or over Ray workers, one per GPU of a cluster
(or ``workers`` CPU workers), each loading the supernet and the data once; results are appended in the
order they finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.jsonlines import appending_json_lines, read_appended_json_lines
from nasedge.writer_lock import locked_file


def evaluation_context(supernet_path: str | Path, data: Any) -> dict[str, str]:
    """What a top-1 depends on besides the arch, as short digests: the supernet file's bytes and the data settings
    (``data``: a :class:`~nasedge.data.DataConfig` or its dict). Stored with every result, so that a rerun into
    the same file never counts results of another supernet or data as done."""
    from nasedge.supernet.families import file_digest

    settings = {k: v for k, v in (data if isinstance(data, dict) else asdict(data)).items() if k != "max_memory_gib"}
    settings["path"] = str(Path(str(settings.get("path"))).resolve())
    data_digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return {"supernet": file_digest(supernet_path)[:16], "data": data_digest[:16]}


_CONTEXT_WORDS = {"supernet": "supernet file", "data": "data (path or settings)"}


def done_archs(path: Path, what: str = "file of accuracy samples", warn=None,
               context: Optional[dict] = None) -> set[Arch]:
    """The archs already in ``path``, a file of JSON lines each with its ``"arch"`` (none when it does not exist);
    a last line cut short by a kill is dropped (:func:`~nasedge.jsonlines.read_appended_json_lines`; ``warn``, by
    default a line on stderr, says so), any other
    line that is not such a record is an error naming it. So is a record of another ``context``
    (:func:`evaluation_context`; records written before contexts were stored have none and count)."""
    done = set()

    def check(lineno: int, doc: Any) -> None:
        try:
            done.add(Arch.from_dict(doc["arch"]))
        except (KeyError, TypeError, ValueError, NasedgeError):
            raise NasedgeError(f"{path}:{lineno}: not a line of a {what}; use another output file") from None
        theirs = doc.get("context")
        if context is not None and isinstance(theirs, dict) and theirs != context:
            other = next((k for k in context if theirs.get(k) != context[k]), "supernet")
            raise NasedgeError(f"{path}:{lineno}: a result of another {_CONTEXT_WORDS.get(other, other)}; one file "
                               f"holds the results of one supernet on one data: use another output file")

    read_appended_json_lines(path, what, "the arch in flight", warn, check)
    return done


class SubnetEvaluator:
    """Evaluates subnets of one supernet on one dataset: loaded once, used for every arch (a Ray actor too)."""

    def __init__(self, supernet_path: str, data: dict, device: str = "auto", batch_size: int = 500,
                 amp: bool = False):
        import torch

        from nasedge.data import DataConfig, dataset_classes, load_evaluation_data
        from nasedge.supernet import load_supernet
        from nasedge.supernet.accuracy import check_classes

        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   "cpu" if device == "auto" else device)
        self.data = DataConfig(**data)
        self.supernet = load_supernet(supernet_path, map_location=self.device)
        check_classes(self.supernet.num_classes, len(dataset_classes(self.data)), supernet_path, self.data.path)
        recal, test = load_evaluation_data(self.data)
        self.recal, self.test = recal.to(self.device), test.to(self.device)
        if self.device.type == "cuda":
            self.supernet = self.supernet.to(memory_format=torch.channels_last)
        self.batch_size, self.amp = batch_size, amp

    def where(self) -> str:
        return str(self.device)

    def evaluate(self, arch: Arch, progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
        """``progress``: :func:`~nasedge.supernet.accuracy.evaluate_arch`'s (images done, in all), per batch."""
        from nasedge.cost import arch_cost
        from nasedge.supernet.accuracy import evaluate_arch

        t = time.perf_counter()
        top1 = evaluate_arch(self.supernet, arch, self.recal, self.test, self.data, self.batch_size, self.amp,
                             progress=progress)
        cost = arch_cost(arch, self.supernet.space)
        return {"arch": arch.to_dict(), "digest": arch.digest(), "top1": round(top1, 4), "params": cost.params,
                "macs": cost.macs, "seconds": round(time.perf_counter() - t, 3)}


def sample_accuracies(archs: Sequence[Arch], out: str | Path, *, supernet_path: str, data: Any,
                      device: str = "auto", batch_size: int = 500, amp: bool = False, workers: Optional[int] = None,
                      ray_address: Optional[str] = None, progress: Optional[Callable[[dict], None]] = None,
                      resuming: Optional[Callable[[int, int], None]] = None,
                      step: Optional[Callable[[float, int], None]] = None) -> tuple[int, int]:
    """Evaluate every arch of ``archs`` not yet in ``out`` and append one JSON line each; returns (new, skipped).

    ``data`` is a :class:`nasedge.data.DataConfig` (or its dict). Ray workers evaluate when there is a cluster
    (``ray_address`` or ``RAY_ADDRESS``), when this machine has several GPUs, or when ``workers`` > 1: ``workers``
    of them (None or 0: one per GPU of the cluster, or per node of a CPU-only one), one GPU each where there
    are GPUs. ``workers`` 1 without a cluster: in this process.
    ``progress(record)`` is called after each line is written; ``resuming(todo, done)``, before the first, when
    ``out`` already holds some of ``archs``. ``step(done, todo)``: the archs of this run evaluated so far, the one in
    flight in this process as its share of its images, per batch (an arch takes minutes on a CPU); under Ray, whole
    archs as their lines are written.
    """
    out = Path(out)
    data = data if isinstance(data, dict) else asdict(data)
    context = evaluation_context(supernet_path, data)
    with locked_file(out, "file of accuracy samples"):  # a second run would append every arch again
        done = done_archs(out, context=context)
        todo = list(dict.fromkeys(a for a in archs if a not in done))  # an arch listed twice: one line
        options = {"device": device, "batch_size": batch_size, "amp": amp}
        if not todo:
            return 0, len(archs)
        if resuming is not None and len(todo) < len(archs):
            resuming(len(todo), len(archs) - len(todo))
        ray = _use_ray(workers, ray_address)
        records = (_ray_records(todo, supernet_path, data, options, workers or 0, ray_address) if ray
                   else _local_records(todo, supernet_path, data, options, step))
        if step is not None:
            step(0, len(todo))
        with appending_json_lines(out) as append:  # durable per arch; no empty file (nor folder) before the first
            for i, record in enumerate(records, start=1):
                append({**record, "context": context})
                if step is not None and ray:
                    step(i, len(todo))
                if progress is not None:
                    progress(record)
    return len(todo), len(archs) - len(todo)


def _use_ray(workers: Optional[int], ray_address: Optional[str]) -> bool:
    if ray_address or os.environ.get("RAY_ADDRESS"):
        return True
    if workers is None or workers == 0:
        import torch

        return torch.cuda.device_count() > 1
    return workers > 1


def _local_records(archs: Sequence[Arch], supernet_path: str, data: dict, options: dict,
                   step: Optional[Callable[[float, int], None]] = None) -> Iterator[dict]:
    evaluator = SubnetEvaluator(supernet_path, data, **options)
    for i, arch in enumerate(archs):
        share = None if step is None else lambda done, total, i=i: step(i + done / total, len(archs))
        yield {**evaluator.evaluate(arch, share), "where": evaluator.where()}


def _ray_records(archs: Sequence[Arch], supernet_path: str, data: dict, options: dict, workers: int,
                 ray_address: Optional[str]) -> Iterator[dict]:
    from nasedge.ray_cluster import connect

    connection = connect(ray_address, logging_level="ERROR")
    import ray
    from ray.util import ActorPool

    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        count = workers if workers > 0 else (gpus or max(1, nodes))
        per_gpu = 1 if gpus >= count else (gpus / count if gpus else 0)
        actor = ray.remote(SubnetEvaluator).options(num_gpus=per_gpu, num_cpus=1)
        pool = ActorPool([actor.remote(supernet_path, data, **options) for _ in range(min(count, len(archs)))])
        for record in pool.map_unordered(lambda a, arch: a.evaluate.remote(arch), list(archs)):
            yield {**record, "where": "ray"}
    except ray.exceptions.RayActorError as exc:
        raise NasedgeError(f"a Ray worker failed: {str(exc).splitlines()[0]}") from None
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from None
    finally:
        connection.close()
