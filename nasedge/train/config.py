"""Typed configuration of supernet training (``conf/train/*.yaml``, schema ``train_schema``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


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
    # keys whose change does not invalidate a checkpoint (everything else must match to resume)
    resumable_changes: list[str] = field(default_factory=lambda: [
        "max_minutes", "eval_every_epochs", "eval_batch_size", "device", "out_dir", "cpu_threads"])
