"""Typed configuration of supernet training (``conf/train/*.yaml``, schema ``train_schema``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from nasedge.errors import NasedgeError, is_finite_real, is_integer


@dataclass
class PhaseConfig:
    """One phase of progressive shrinking: which choices are elastic, for how long, how it learns."""

    name: str = "full"
    epochs: int = 1
    lr: float = 0.1
    warmup_epochs: float = 0.0
    subnets_per_step: int = 1        # subnets sampled per batch; their gradients are averaged
    # allowed choices in this phase; null = every choice of the search space
    kernel: Optional[list[int]] = None
    expand: Optional[list[int]] = None
    depth: Optional[list[int]] = None
    resolution: Optional[list[int]] = None
    # sample the phase's largest and smallest subnets at every step besides random ones (sandwich rule)
    sandwich: bool = False
    kd_weight: float = 0.0           # weight of distillation from the teacher (the full network of phase 1)
    sort_channels: bool = False      # reorder hidden channels by importance when the phase starts

    def check(self, where: str = "train.phases[0]") -> None:
        """Fail with the first setting out of range, as ``<where>.<key>: value ... is not valid; expected ...``."""
        if not isinstance(self.name, str) or not self.name:
            raise _invalid(f"{where}.name", self.name, "a non-empty name")
        _require(f"{where}.epochs", self.epochs, is_integer(self.epochs) and self.epochs >= 1, "a positive integer")
        # lr 0 is allowed: a phase that only recalibrates or copies weights (tests use it)
        _require(f"{where}.lr", self.lr, is_finite_real(self.lr) and self.lr >= 0, "a finite number >= 0")
        _require(f"{where}.warmup_epochs", self.warmup_epochs,
                 is_finite_real(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs,
                 f"a number of epochs in [0, {self.epochs}] (the phase's epochs)")
        _require(f"{where}.subnets_per_step", self.subnets_per_step,
                 is_integer(self.subnets_per_step) and self.subnets_per_step >= 1, "a positive integer")
        _require(f"{where}.kd_weight", self.kd_weight, is_finite_real(self.kd_weight) and self.kd_weight >= 0,
                 "a finite number >= 0")
        for key in ("kernel", "expand", "depth", "resolution"):
            value = getattr(self, key)
            _require(f"{where}.{key}", value, value is None or (isinstance(value, (list, tuple)) and all(
                is_integer(v) and v >= 1 for v in value)), "a list of positive integers or null")


@dataclass
class TrainConfig:
    # "progressive_shrinking": the supernet; "static": one arch trained alone from scratch (train.arch)
    mode: str = "progressive_shrinking"
    arch: Optional[str] = None       # static mode: "min", "max" or a path to an arch JSON
    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig()])
    batch_size: int = 256
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5       # not applied to BatchNorm, biases or kernel-transformation matrices
    label_smoothing: float = 0.1
    grad_clip: Optional[float] = None
    device: str = "auto"             # auto: cuda when available
    cpu_threads: Optional[int] = None    # torch threads on CPU (null: torch's default, one per core)
    amp: bool = True                 # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True       # on CUDA
    deterministic: bool = True       # deterministic kernels (same result for the same seed)
    out_dir: str = "runs/supernet"
    # progressive shrinking from a supernet file instead of random weights (e.g. a trained full
    # network: out_dir/phases/full.pt of another run, with train.phases listing the elastic ones)
    init_from: Optional[str] = None
    keep_phase_ends: bool = False    # write the supernet at the end of every phase to out_dir/phases/<name>.pt
    max_minutes: Optional[float] = None   # stop cleanly at a checkpoint after this many minutes (any rank: all stop)
    # Several processes (torchrun): batch_size is the GLOBAL batch, split evenly over the ranks, and each
    # phase's lr is the lr of that global batch, so a config trains the same recipe on any number of GPUs.
    # lr_reference_batch: scale every lr by batch_size / lr_reference_batch (linear scaling rule, Goyal et
    # al. 2017) when changing the global batch; null: lr as given.
    lr_reference_batch: Optional[int] = None
    # BatchNorm statistics per rank (OFA's choice; false) or over the global batch (true: SyncBatchNorm)
    sync_bn: bool = False
    checkpoint_part_mib: int = 16
    eval_every_epochs: int = 5       # top-1 of the phase's largest and smallest subnets, logged
    eval_batch_size: int = 1000
    # keys whose change does not invalidate a checkpoint (everything else must match to resume); data.path may
    # change too (a relative path, the data moved): the data itself is compared, by a digest in the checkpoint
    resumable_changes: list[str] = field(default_factory=lambda: [
        "max_minutes", "eval_every_epochs", "eval_batch_size", "device", "out_dir", "cpu_threads"])

    def __post_init__(self) -> None:
        # OmegaConf.to_object (train_from_config) builds the config here: bad values fail before any training work
        self.check()

    def check(self) -> None:
        """Fail with the first setting out of range: one line naming the key, the value and what is expected.

        Checked where the config is built (``__post_init__``), before the process group, model or data exist;
        call it again after changing fields of a built config. Choices of a phase that the search space lacks
        and a batch larger than the data are checked once those are known (:class:`~nasedge.train.Trainer`).
        """
        if self.mode not in ("progressive_shrinking", "static"):
            raise _invalid("train.mode", self.mode, "progressive_shrinking or static")
        if not self.phases:
            raise NasedgeError("train.phases is empty")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise NasedgeError(f"train.phases: phase names must be unique (they seed each phase's steps); got {names}")
        for i, phase in enumerate(self.phases):
            phase.check(f"train.phases[{i}]")
        _require("train.batch_size", self.batch_size, is_integer(self.batch_size) and self.batch_size >= 1,
                 "a positive integer")
        _require("train.momentum", self.momentum, is_finite_real(self.momentum) and 0 <= self.momentum < 1,
                 "a number in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise NasedgeError("train.momentum: value 0 is not valid with train.nesterov=true; expected a number in "
                               "(0, 1), or train.nesterov=false")
        _require("train.weight_decay", self.weight_decay, is_finite_real(self.weight_decay) and self.weight_decay >= 0,
                 "a finite number >= 0")
        _require("train.label_smoothing", self.label_smoothing,
                 is_finite_real(self.label_smoothing) and 0 <= self.label_smoothing < 1, "a number in [0, 1)")
        _require("train.grad_clip", self.grad_clip,
                 self.grad_clip is None or (is_finite_real(self.grad_clip) and self.grad_clip > 0),
                 "a positive number or null (no clipping)")
        _require("train.cpu_threads", self.cpu_threads,
                 self.cpu_threads is None or (is_integer(self.cpu_threads) and self.cpu_threads >= 1),
                 "a positive integer or null (torch's default)")
        _require("train.max_minutes", self.max_minutes,
                 self.max_minutes is None or (is_finite_real(self.max_minutes) and self.max_minutes > 0),
                 "a positive finite number of minutes or null (no time budget)")
        _require("train.lr_reference_batch", self.lr_reference_batch,
                 self.lr_reference_batch is None or (is_integer(self.lr_reference_batch) and self.lr_reference_batch >= 1),
                 "a positive integer or null")
        for key in ("checkpoint_part_mib", "eval_every_epochs", "eval_batch_size"):
            value = getattr(self, key)
            _require(f"train.{key}", value, is_integer(value) and value >= 1, "a positive integer")
        _require("train.out_dir", self.out_dir, isinstance(self.out_dir, str) and bool(self.out_dir.strip()),
                 "a folder (empty would write the run into the working directory)")
        check_train_device(self.device)


def check_train_device(device: Any) -> None:
    """``train.device`` is ``auto`` or a torch device this machine has (cpu, cuda, cuda:N, mps); nothing is allocated."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise _invalid("train.device", device, "auto, cpu, cuda, cuda:N or mps")
    if device in ("auto", "cpu"):
        return
    import torch  # loaded already with nasedge.train

    if device == "mps":
        if not torch.backends.mps.is_available():
            raise NasedgeError("train.device: value 'mps' is not available: no MPS device here; expected auto or cpu")
        return
    if not torch.cuda.is_available():
        raise NasedgeError(f"train.device: value {device!r} is not available: no CUDA device is available here; "
                           f"expected auto or cpu")
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise NasedgeError(f"train.device: value {device!r} is not available: this machine has {count} CUDA "
                           f"device{'s' if count != 1 else ''}; expected cuda:0 to cuda:{count - 1}, cuda or auto")


def _invalid(key: str, value: Any, expected: str) -> NasedgeError:
    return NasedgeError(f"{key}: value {value!r} is not valid; expected {expected}")


def _require(key: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise _invalid(key, value, expected)
