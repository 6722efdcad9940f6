"""Several training processes as one: the process group torchrun sets up, and what ranks must agree on.

``torchrun --nproc-per-node=N -m nasedge train ...`` starts N processes with ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK`` in their environment (and a c10d rendezvous across hosts with ``--nnodes`` and
``--rdzv-endpoint``). :func:`init_world` joins them: NCCL between GPUs, gloo between CPUs, plus a
gloo group for small control messages (stop flags, RNG states) that never waits on a GPU. A
process started without torchrun is a world of one with no process group at all.

Ranks stay in lock-step by construction: every random choice of a step (subnets, resolution,
augmentation, dropout) is derived from the step's seed, so each rank draws the same numbers for the
whole global batch and keeps the rows of its own shard.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from nasedge.errors import NasedgeError, shortened


@dataclass
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    launched: bool = False          # started by torchrun: DDP, sharded batches (even when size is 1)
    control: Any = None             # gloo process group for control messages

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (no GPU synchronisation)."""
        if self.size == 1:
            return flag
        t = torch.tensor([int(flag)])
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.control)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (on every rank)."""
        if self.size == 1:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a tensor on the training device."""
        if self.size == 1:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t / self.size

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; tensors should be on the CPU)."""
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def average_gradients(self, model: nn.Module) -> None:
        """Average the gradients each rank accumulated over a step's subnets: one all-reduce per step.

        Every rank trained the same subnets, so the same parameters hold a gradient on every rank
        (the others stay None, as in one process). One flat buffer, reduced on the GPU with no host
        synchronisation; DDP's reducer would add per-parameter hooks and, with the unused parameters
        every subnet leaves, a search of the autograd graph and a used-parameter map per step.
        """
        if self.size == 1:  # the mean over one rank is the gradient itself: no buffer, no copies
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if grads:
            flat = _flatten_dense_tensors(grads)
            dist.all_reduce(flat)
            flat.div_(self.size)
            torch._foreach_copy_(grads, list(_unflatten_dense_tensors(flat, grads)))  # a few launches, not one per tensor

    def share_weights(self, model: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (ranks build the same model, this makes sure)."""
        if self.size == 1:
            return
        tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
        flat = _flatten_dense_tensors(tensors)
        dist.broadcast(flat, src=0)
        for t, shared in zip(tensors, _unflatten_dense_tensors(flat, tensors)):
            t.copy_(shared)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier(group=self.control)

    def close(self) -> None:
        if self.launched and dist.is_initialized():
            dist.destroy_process_group()


STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})  # what a scheduler or a user sends to stop a run


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


@contextmanager
def collective_failure_in_one_line(kept: str | Callable[[], str]) -> Iterator[None]:
    """Under torchrun, a collective that fails (another rank died or failed, or the connection broke) is one
    :class:`NasedgeError` on this rank, ending with ``kept`` (what the run keeps and how it goes on; a function is
    asked when the failure comes, since what is kept by then may differ from what was at the start); the other
    rank's own error, if it had one, is that rank's line. Any other error keeps its traceback."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if launched_by_torchrun() and (isinstance(exc, getattr(dist, "DistBackendError", ())) or any(
                m in text for m in ("Connection closed by peer", "Connection reset by peer", "Gloo", "NCCL"))):
            first = shortened(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
            raise NasedgeError(f"rank {os.environ['RANK']}: a collective failed ({first}): another rank stopped or "
                               f"failed (see its lines) or the connection broke; "
                               f"{kept() if callable(kept) else kept}") from None
        raise


def init_world(device: str = "auto", timeout_minutes: float = 30.0) -> World:
    """Join the process group torchrun started (NCCL on GPUs, gloo on CPUs), or a world of one.

    ``device``: ``auto`` (a GPU when there is one), ``cuda`` or ``cpu``; under torchrun each rank takes
    the GPU of its ``LOCAL_RANK``.
    """
    want_cuda = torch.cuda.is_available() if device == "auto" else torch.device(device).type == "cuda"
    if not launched_by_torchrun():
        dev = torch.device("cuda" if device == "auto" and want_cuda else ("cpu" if device == "auto" else device))
        return World(device=dev)
    rank, size, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if want_cuda:
        if local >= torch.cuda.device_count():
            raise NasedgeError(f"LOCAL_RANK={local} but this host has {torch.cuda.device_count()} GPUs; "
                               f"use --nproc-per-node <= the number of GPUs")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    # a stop signal must reach the main thread, where the trainer stops every rank at one checkpoint: one that
    # lands on a thread of gloo's breaks its event loop, and the process aborts at exit (SIGABRT instead of a
    # resumable stop). Threads keep the signal mask they start with, so the process group's start with these
    # blocked.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want_cuda else "gloo", timeout=timedelta(minutes=timeout_minutes),
                                    device_id=dev if want_cuda else None)
        control = dist.new_group(backend="gloo", timeout=timedelta(minutes=timeout_minutes)) if want_cuda else None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return World(rank, size, local, dev, True, control)


# --- dropout and BatchNorm across ranks -----------------------------------------------------------
def _sharded_dropout(module: nn.Dropout, rows: slice, total: int, x: torch.Tensor) -> torch.Tensor:
    # the mask of the whole global batch, then this rank's rows: on the CPU the same numbers one process
    # draws for the whole batch (torch's CPU dropout is bernoulli_ on a tensor of the input's shape)
    if not module.training or module.p == 0:
        return x
    keep = torch.empty((total, *x.shape[1:]), dtype=x.dtype, device=x.device).bernoulli_(1 - module.p)
    return x * keep[rows].div_(1 - module.p)


def shard_dropout_(model: nn.Module, rows: slice, total: int) -> None:
    """Make every dropout of ``model`` draw the global batch's mask and keep this rank's rows."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.forward = partial(_sharded_dropout, m, rows, total)


def _sync_batch_norm(bn: nn.modules.batchnorm._BatchNorm, size: int, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the global batch: statistics combined over ranks (first ``C`` channels, as elastic BN)."""
    if not bn.training:
        return type(bn).forward(bn, x)
    c = x.shape[1]
    bn.num_batches_tracked.add_(1)
    # momentum None: cumulative average, as torch's BatchNorm
    factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    w, b, rm, rv = bn.weight[:c], bn.bias[:c], bn.running_mean[:c], bn.running_var[:c]
    if x.is_cuda:  # torch's fused kernels (CUDA only)
        from torch.nn.modules._functions import SyncBatchNorm

        return SyncBatchNorm.apply(x, w, b, rm, rv, bn.eps, factor, dist.group.WORLD, size)
    from torch.distributed.nn.functional import all_gather

    # each rank's mean and sum of squared deviations, combined exactly (Chan et al.): E[x^2] - E[x]^2
    # loses the variance of channels whose mean is large against their spread
    xf = x.float()
    dims = [0, *range(2, x.dim())]
    n_local = x.numel() // c
    local_mean = xf.mean(dims)
    local_m2 = ((xf - local_mean.view(1, c, *(1,) * (x.dim() - 2))) ** 2).sum(dims)
    gathered = all_gather(torch.cat([local_mean, local_m2, torch.tensor([float(n_local)])]))  # differentiable
    stats = torch.stack(gathered)
    counts = stats[:, -1:]
    n = counts.sum()
    mean = (stats[:, :c] * counts).sum(0) / n
    var = (stats[:, c:2 * c].sum(0) + (counts * (stats[:, :c] - mean) ** 2).sum(0)) / n
    with torch.no_grad():
        rm.mul_(1 - factor).add_(mean.detach(), alpha=factor)
        rv.mul_(1 - factor).add_(var.detach() * (n / (n - 1)), alpha=factor)
    shape = (1, c) + (1,) * (x.dim() - 2)
    y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
    return (y * w.view(shape) + b.view(shape)).to(x.dtype)


def sync_batchnorm_(model: nn.Module, world: World, enable: bool = True) -> None:
    """Normalise every BatchNorm of ``model`` in training mode with the statistics of the global batch.

    Unlike ``nn.SyncBatchNorm.convert_sync_batchnorm`` this keeps the modules (and their state_dict
    keys), works for elastic BatchNorm (the first ``C`` channels) and on CPUs (gloo). ``enable=False``
    gives every BatchNorm its own forward back (BatchNorm recalibration runs on each rank alone).
    """
    if world.size == 1:
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not enable:
                m.__dict__.pop("forward", None)
            elif m.num_batches_tracked is None or not m.affine or m.running_mean is None:
                raise NasedgeError("train.sync_bn: every BatchNorm needs affine weights and running statistics")
            else:
                m.forward = partial(_sync_batch_norm, m, world.size)
