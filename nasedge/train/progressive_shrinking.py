"""Supernet training with progressive shrinking and knowledge distillation (OFA), resumable.

Phases (``train.phases``) widen the set of subnets step by step: the full network first, then
elastic kernel, depth and expand ratio. From the second phase on, a frozen copy of the full network
is the teacher; each step samples several subnets of the phase (at one resolution per batch),
averages their gradients, and updates the shared weights.

Everything random is derived from (seed, phase, epoch, step), so a run that stops at a checkpoint
and resumes takes exactly the steps an uninterrupted run takes.

Under torchrun (:mod:`nasedge.train.distributed`) every rank samples the same subnets and trains on
its own rows of each global batch; the gradients of a step's subnets accumulate locally and are
all-reduced once per step. Rank 0 writes checkpoints and logs: first the plan (phases, epochs, data,
device, resume point) before anything slow, then a progress line every few seconds (steps, rate, ETA).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import random
import signal
import sys
import time
import zlib
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_bytes, atomic_write_text
from nasedge.data import (DataConfig, ImageDataset, data_difference, data_identity, dataset_classes, load_dataset,
                          recalibration_subset, shard_rows)
from nasedge.data.augment import train_batch
from nasedge.errors import NasedgeError
from nasedge.supernet.accuracy import evaluate_arch
from nasedge.nn.mobilenetv3 import build_mobilenetv3
from nasedge.progress import duration, progress_reporter
from nasedge.spaces import SearchSpace, get_space
from nasedge.supernet import build_supernet, load_supernet, save_supernet
from nasedge.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from nasedge.train.config import PhaseConfig, TrainConfig
from nasedge.writer_lock import FOLDER_LOCK, holding, making
from nasedge.train.distributed import (STOP_SIGNALS, World, init_world, launched_by_torchrun, shard_dropout_,
                                       sync_batchnorm_)


@dataclass
class TrainResult:
    finished: bool          # False: stopped at a checkpoint (time budget or signal); run again to resume
    out_dir: Path
    metrics: list[dict]


def step_seed(seed: int, phase: str, epoch: int, step: int) -> int:
    # keyed by the phase's name, not its index, so that a run started from a kept phase end
    # (train.init_from) takes exactly the steps the uninterrupted run takes
    key = zlib.crc32(phase.encode())
    return (((seed * 1_000_003 + key) * 1_009 + epoch) * 100_003 + step) % (2**63 - 1)


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the teacher's softmax (distillation at temperature 1, as OFA)."""
    return -(F.softmax(target_logits.float(), 1) * F.log_softmax(logits.float(), 1)).sum(1).mean()


def phase_space(space: SearchSpace, phase: PhaseConfig) -> SearchSpace:
    choices = {k: v for k, v in (("kernel", phase.kernel), ("expand", phase.expand), ("depth", phase.depth),
                                 ("resolution", phase.resolution)) if v}
    try:
        return space.restrict(**choices)
    except NasedgeError as exc:
        raise NasedgeError(f"train.phases[{phase.name}]: {exc}") from None


def check_phases(space: SearchSpace, phases: list[PhaseConfig]) -> None:
    """Every phase's choices are of ``space``; where they are not, an installed space they fit is named (the
    recipe ``train=tiny`` is of ``search_space=ofa_mbv3_tiny``)."""
    from nasedge.spaces import list_spaces

    def fits(name: str) -> bool:
        try:
            other = get_space(name)
            for phase in phases:
                phase_space(other, phase)
        except Exception:  # noqa: BLE001 (a plugin's space that fails to load or restrict is no hint, never the error)
            return False
        return True

    try:
        for phase in phases:
            phase_space(space, phase)
    except NasedgeError as exc:
        others = [name for name in list_spaces() if name != space.name and fits(name)]
        hint = f"; these phases fit search_space={others[0]}" if others else ""
        raise NasedgeError(f"{exc} (search_space={space.name}){hint}") from None


def sample_subnets(space: SearchSpace, resolution: int, n: int, sandwich: bool, rng: np.random.Generator) -> list[Arch]:
    """``n`` subnets of ``space`` at ``resolution``: with ``sandwich``, its largest and smallest first."""
    at_res = space.restrict(resolution=[resolution])
    archs = [at_res.max_arch(), at_res.min_arch()][:n] if sandwich else []
    while len(archs) < n:
        archs.append(at_res.sample(rng))
    return archs


def load_except_head(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> str:
    """Load ``state`` into ``model``; a classifier for another class count is left as initialised (a new head).

    Returns the one line that reports a new head ("" when every tensor was loaded). Any other tensor that
    does not fit is a :class:`NasedgeError` naming it: never a silent shape mismatch.
    """
    own = model.state_dict()
    differ = sorted(k for k in own if k in state and state[k].shape != own[k].shape)
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        key = (missing or extra)[0]
        raise NasedgeError(f"{source}: tensor {key} is {'missing' if missing else 'unexpected'}; the weights are "
                           f"not those of this supernet")
    head = next((name for name, m in model.named_modules() if isinstance(m, nn.Linear)
                 and {f"{name}.weight", f"{name}.bias"} >= set(differ) and differ), None)
    if differ and head is None:
        linear = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, nn.Linear) for p in ("weight", "bias")}
        key = next((k for k in differ if k not in linear), differ[0])
        raise NasedgeError(f"{source}: tensor {key} has shape {tuple(state[key].shape)}, this supernet's "
                           f"{tuple(own[key].shape)}")
    model.load_state_dict({k: v for k, v in state.items() if k not in differ}, strict=False)
    if not differ:
        return ""
    linear = model.get_submodule(head)
    old = state[f"{head}.weight"].shape[0]
    return (f"new classifier head: {old} classes -> {linear.out_features} classes ({head}: Linear "
            f"{linear.in_features} -> {linear.out_features}, freshly initialised; every other tensor from "
            f"{source.split(': ', 1)[-1]})")


def freeze_as_teacher(teacher: nn.Module) -> None:
    """Eval mode except BatchNorm, which normalises with the batch's own statistics.

    The teacher sees every training resolution, but its running statistics were collected at the
    resolutions of the first phase only (or averaged over several): in eval mode its soft targets at
    the other resolutions were degraded enough to pull the largest subnet 4-5 points below the
    teacher itself. Momentum 0 keeps its stored statistics unchanged.
    """
    teacher.eval()
    for m in teacher.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
            m.momentum = 0.0


def _lr(phase: PhaseConfig, step: int, total: int, steps_per_epoch: int) -> float:
    warm = int(phase.warmup_epochs * steps_per_epoch)
    if step < warm:
        return phase.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * phase.lr * (1 + math.cos(math.pi * progress))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # BN affine, biases and the kernel-transformation matrices (which start at identity) are not decayed
        (no_decay if p.ndim <= 1 or "transforms" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _static_arch(cfg: TrainConfig, space: SearchSpace) -> Arch:
    if cfg.arch in ("min", "max"):
        return space.min_arch() if cfg.arch == "min" else space.max_arch()
    if not cfg.arch:
        raise NasedgeError("train.mode=static needs train.arch (min, max or an arch JSON file)")
    return space.validate(Arch.load(cfg.arch, space.shape_of), source=cfg.arch)


def _comparable(config: dict, ignore: list[str], data_path: bool = False) -> dict:
    """``config`` without the ``train`` keys ``ignore``, nor ``data.path`` unless ``data_path``: where the data is may
    differ (each host's mount, a moved file, a relative path) while what it is may not, which
    :func:`~nasedge.data.data_identity` tells once the data is loaded."""
    out = json.loads(json.dumps(config))
    for key in ignore:
        out.get("train", {}).pop(key, None)
    if not data_path:
        out.get("data", {}).pop("path", None)
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
            if d:
                return d
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):  # a list's item (a phase), not the list
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{path}.{i}"))), "")
    return path if a != b else ""


def _value_at(config: Any, key: str) -> Any:
    """The value at a dotted ``key`` of :func:`_first_difference` (None where it is missing)."""
    for part in key.split("."):
        if isinstance(config, list):
            config = config[int(part)] if part.isdigit() and int(part) < len(config) else None
        else:
            config = config.get(part) if isinstance(config, dict) else None
    return config


def _difference(ours: dict, theirs: dict) -> str:
    """The first setting in which two configurations differ, with both values: ``train.batch_size: 16 against 32``,
    ``train.phases.1.lr: 0.05 against 0.1``; lists of other lengths by their lengths ("" where they do not differ)."""
    key = _first_difference(theirs, ours)
    if not key:
        return ""
    mine, other = _value_at(ours, key), _value_at(theirs, key)
    if isinstance(mine, list) and isinstance(other, list):  # written out, a list of phases is kilobytes
        return f"{key}: {len(mine)} items against {len(other)}"
    return f"{key}: {mine!r} against {other!r}"


def checkpoint_dir(out_dir: str | Path) -> Path:
    """Where the run writing ``out_dir`` keeps its checkpoint."""
    return Path(out_dir) / "checkpoint"


def what_a_failed_run_keeps(out_dir: str | Path) -> str:
    """What a run writing ``out_dir`` keeps once it failed, and how the same command goes on, in a few words.

    A run that failed before its first checkpoint keeps nothing, as one process does: the out_dir goes again where
    it wrote nothing else (:func:`~nasedge.writer_lock.making`), and an epoch line it printed was never kept."""
    ckpt = checkpoint_dir(out_dir)
    if has_checkpoint(ckpt):
        return f"the last checkpoint ({ckpt}) is kept and the same command resumes from it"
    if os.environ.get("GROUP_RANK", "0") != "0":  # torchrun's node rank: rank 0, which writes them, is elsewhere
        return f"{ckpt} holds no checkpoint on this host; the same command resumes from any that rank 0's host holds"
    return f"no checkpoint was written yet (none in {ckpt}); the same command starts afresh"


class Trainer:
    """Runs (or resumes) one training run described by a composed config."""

    def __init__(self, cfg: TrainConfig, data: DataConfig, space: SearchSpace, seed: int, config_dict: dict,
                 world: World | None = None):
        cfg.check()  # again: a config changed after it was built (the check runs when it is built)
        self.cfg, self.data_cfg, self.space, self.seed = cfg, data, space, seed
        self.config_dict = config_dict
        self.out_dir = Path(cfg.out_dir)
        self.ckpt_dir = checkpoint_dir(self.out_dir)
        self.phases_dir = self.out_dir / "phases"  # the weights at each phase's end
        self.metrics_path = self.out_dir / "metrics.json"
        if world is not None:
            self.device = world.device
        elif cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
        self.world = world or World(device=self.device)
        # this rank's rows of every global batch (None: one process reads whole batches)
        self.rows = shard_rows(cfg.batch_size, self.world.rank, self.world.size) if self.world.launched else None
        self.lr_scale = cfg.batch_size / cfg.lr_reference_batch if cfg.lr_reference_batch else 1.0
        self.cuda = self.device.type == "cuda"
        self.amp = cfg.amp and self.cuda
        self.static_arch = _static_arch(cfg, space) if cfg.mode == "static" else None
        if self.static_arch is None:
            check_phases(space, cfg.phases)  # a later phase's choices the space lacks: refused now, not after the others
        self._stop_signal = False
        self._data_identity: dict | None = None  # data_identity of the loaded data, kept in every checkpoint
        self._num_classes = 0  # of the loaded data
        self._check_out_dir_entries()

    def _check_ranks_agree(self, identity: dict) -> None:
        """Every rank has the configuration and read the data of rank 0 (each host composes its own command and
        reads its own ``data.path``; ``identity``: :func:`~nasedge.data.data_identity` of this rank's): another
        batch size or data size would break a collective with a C++ abort; another seed, or other images of the
        same size, would train silently on a mix."""
        if self.world.size == 1:
            return
        # where each host keeps its files (data.path) and how many threads it gives may differ; nothing else may
        every = self.world.gather((_comparable(self.config_dict, ["out_dir", "cpu_threads"]), identity))
        differ = next((r for r, other in enumerate(every) if other[0] != every[0][0]), None)
        if differ is not None:
            raise NasedgeError(f"rank {differ} was given another configuration than rank 0 "
                               f"({_difference(every[differ][0], every[0][0])}); every rank needs the same settings")
        what = [data_difference(other[1], every[0][1]) for other in every]
        differ = next((r for r, w in enumerate(what) if w), None)
        if differ is not None:
            raise NasedgeError(f"data.path {self.data_cfg.path}: rank {differ} read other data than rank 0 "
                               f"({what[differ]}); every host needs the same data")

    def _check_resumable(self, state: dict) -> None:
        """The checkpoint ``state`` was made with this configuration, but for ``train.resumable_changes`` and where
        the data is (:func:`_comparable`; checked again once the data is loaded, :meth:`_check_same_data`)."""
        # a checkpoint made before the data was identified: where it was stands for what it was
        by_path = "identity" not in (state.get("data") or {})
        stored, now = (_comparable(c, self.cfg.resumable_changes, by_path) for c in (state["config"], self.config_dict))
        if stored != now:
            raise NasedgeError(f"{self.ckpt_dir}: checkpoint was made with a different configuration "
                               f"({_difference(now, stored)} in the checkpoint); use another train.out_dir")

    def _check_same_data(self, state: dict, identity: dict) -> None:
        """The data loaded is the data the checkpoint ``state`` was trained on, whatever path names it now."""
        stored = (state.get("data") or {}).get("identity")
        what = data_difference(identity, stored) if stored is not None else ""
        if what:
            raise NasedgeError(f"data.path {self.data_cfg.path}: other data than the checkpoint in {self.ckpt_dir} "
                               f"was trained on ({what}); give the data it was trained on, or use another "
                               f"train.out_dir")

    def _check_out_dir_entries(self) -> None:
        """What the run writes into ``out_dir`` is not held by something of the other kind (a file named
        ``checkpoint``, a folder named ``supernet.pt``): refused now, not after an epoch or the whole run."""
        for path in (self.ckpt_dir, self.phases_dir):
            if path.exists() and not path.is_dir():
                raise NasedgeError(f"train.out_dir {self.out_dir}: {path} is a file where the run keeps a folder; "
                                   f"move it away")
        for path in (self.metrics_path, *self._final_files()):
            if path.is_dir():
                raise NasedgeError(f"train.out_dir {self.out_dir}: {path} is a folder where the run writes a file; "
                                   f"move it away")

    # --- setup ---------------------------------------------------------------------------
    def _init_from(self) -> nn.Module | None:
        """The supernet of ``train.init_from``, checked against the run before the data loads (minutes at scale)."""
        if not self.cfg.init_from:
            return None
        try:
            start = load_supernet(self.cfg.init_from)
        except NasedgeError as exc:
            raise NasedgeError(f"train.init_from: {exc}") from None
        if self.static_arch or start.space.name != self.space.name:
            raise NasedgeError(f"train.init_from: {self.cfg.init_from} is a supernet of space "
                               f"{start.space.name!r}; this run trains "
                               f"{'a static arch' if self.static_arch else repr(self.space.name)}")
        return start

    def _build_model(self, num_classes: int, log, start: nn.Module | None = None) -> nn.Module:
        """The model to train; ``start``: :meth:`_init_from`'s supernet, whose weights it starts from."""
        torch.manual_seed(self.seed)
        model = (build_mobilenetv3(self.static_arch, self.space, num_classes) if self.static_arch
                 else build_supernet(self.space, num_classes))
        if start is not None:
            head = load_except_head(model, start.state_dict(), f"train.init_from: {self.cfg.init_from}")
            if head:
                log(head)
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.cuda and self.cfg.channels_last else model

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def _make_teacher(self, model: nn.Module) -> nn.Module:
        teacher = model.extract(self.space.max_arch()) if hasattr(model, "extract") else copy.deepcopy(model)
        teacher = teacher.to(self.device)
        for p in teacher.parameters():
            p.requires_grad_(False)
        freeze_as_teacher(teacher)
        if self.cfg.sync_bn:
            sync_batchnorm_(teacher, self.world)
        return teacher.to(memory_format=torch.channels_last) if self.cuda and self.cfg.channels_last else teacher

    # --- main loop -----------------------------------------------------------------------
    def plan(self, position: dict | None) -> str:
        """The run in one line: what is trained, phases and epochs, data, device, where it starts."""
        cfg = self.cfg
        what = (f"{self.static_arch.space} static arch" if self.static_arch else
                f"progressive shrinking of the {self.space.name} supernet")
        phases = ", ".join(f"{p.name} {p.epochs}" for p in cfg.phases)
        procs = f" x {self.world.size} processes" if self.world.size > 1 else ""
        if position is None:
            start = f"fresh start (no checkpoint in {self.ckpt_dir})"
        elif position["phase"] >= len(cfg.phases):
            start = "already finished"
        else:
            start = (f"resume at phase {cfg.phases[position['phase']].name} epoch {position['epoch']} "
                     f"step {position['step']} ({self.ckpt_dir})")
        budget = f"; stops at a checkpoint after {cfg.max_minutes} min" if cfg.max_minutes else ""
        n = len(cfg.phases)
        return (f"train: {what}; {n} phase{'s' * (n != 1)} ({phases} epochs; {sum(p.epochs for p in cfg.phases)} "
                f"in all), batch {cfg.batch_size}; data {self.data_cfg.kind} {self.data_cfg.path}; device "
                f"{self.device}{procs}; output {self.out_dir}; {start}{budget}")

    def run(self, log=print, progress: bool = True) -> TrainResult:
        """Train (or resume); ``log`` gets the plan, resume and epoch lines; ``progress``: a bar or plain
        lines on stderr every few seconds (rank 0)."""
        with self._out_dir_lock():
            return self._run(log, progress)

    @contextmanager
    def _out_dir_lock(self):
        """Rank 0 holds ``out_dir/.lock`` while the run lasts (:mod:`nasedge.writer_lock`): a second run on the same
        folder (a rerun while the first still runs, or workers torchrun left behind) would write the same
        checkpoint parts."""
        lock, folder = nullcontext(), nullcontext()
        if self.world.is_main:  # the folders it makes go again if the run writes nothing (refused, stopped early)
            folder, lock = making(self.out_dir), holding(self.out_dir / FOLDER_LOCK)
        with folder, lock as busy:
            if self.world.any(busy is not None):
                raise NasedgeError(f"train.out_dir {self.out_dir}: another training is writing it (process "
                                   f"{busy or 'on the host of rank 0'}); wait for it to end or stop it, or use "
                                   f"another train.out_dir")
            yield

    def _run(self, log, progress: bool) -> TrainResult:
        cfg, world = self.cfg, self.world
        if not world.is_main:
            log, progress = _silent, False
        # the checkpoint first (small, quick): the plan names the resume point before the data loads
        if world.size == 1:
            state = load_checkpoint(self.ckpt_dir, map_location=self.device)
        else:  # only rank 0 needs to see out_dir (hosts need not share a file system)
            state = world.broadcast(load_checkpoint(self.ckpt_dir) if world.is_main else None)
        log(self.plan(state["position"] if state is not None else None))
        if state is not None:  # refused before the data loads, which takes minutes at scale
            self._check_resumable(state)
            if state["position"]["phase"] >= len(cfg.phases):  # nothing left to train: no data to load
                if world.is_main:
                    self._finish_again(state, log)
                world.barrier()
                return TrainResult(True, self.out_dir, state["metrics"])
        start_from = self._init_from()
        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        if cfg.deterministic:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        else:
            torch.backends.cudnn.benchmark = True
        t = time.monotonic()
        log(f"loading {self.data_cfg.path} ...")
        train, test = load_dataset(self.data_cfg)
        train, test = train.to(self.device), test.to(self.device)
        log(f"data: {len(train)} training and {len(test)} test images ({duration(time.monotonic() - t)})")
        self._data_identity = data_identity(self.data_cfg, train, test)
        self._check_ranks_agree(self._data_identity)
        if state is not None:
            self._check_same_data(state, self._data_identity)
        recal = recalibration_subset(train, self.data_cfg)
        self._num_classes = len(train.classes)
        model = self._build_model(self._num_classes, log, start_from)
        del start_from
        teacher = None
        position = {"phase": 0, "epoch": 0, "step": 0}
        metrics: list[dict] = []
        optimizer_state = None
        epoch_loss = None  # the loss sum and step count of the steps an interrupted epoch took before its checkpoint
        self._subnets_crc = 0
        if state is not None:
            model.load_state_dict(state["model"])
            if state["teacher"] is not None:
                teacher = self._make_teacher(model)
                teacher.load_state_dict(state["teacher"])
            position, metrics, optimizer_state = state["position"], state["metrics"], state["optimizer"]
            self._subnets_crc = state.get("subnets_crc", 0)
            # checkpoints written before it was stored resume with the epoch's sums at zero
            epoch_loss = _resumed_loss(state.get("epoch_loss"), world.rank, world.size, self.device)
            # one RNG state per rank (a dict: checkpoints of one process, before torchrun)
            rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
            _set_rng_state(rng[world.rank % len(rng)])
            log(f"resumed from {self.ckpt_dir} at phase {position['phase']} "
                f"({cfg.phases[position['phase']].name}) epoch {position['epoch']} step {position['step']}")
            if len(rng) != world.size:
                log(_world_size_change(len(rng), world.size, cfg))
        if world.launched:
            self._join_ranks(model)

        start = time.monotonic()
        deadline = start + cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        # SIGTERM (a scheduler) and a first Ctrl-C stop at the next step's checkpoint; a second Ctrl-C stops at once
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        steps_per_epoch = len(train) // cfg.batch_size
        total = sum(p.epochs for p in cfg.phases) * steps_per_epoch
        done = (sum(p.epochs for p in cfg.phases[:position["phase"]]) + position["epoch"]) * steps_per_epoch \
            + position["step"]
        reporter = progress_reporter("train", total, unit="steps") if progress else nullcontext(_silent)
        try:
            with reporter as update:
                update(done)

                def step_done() -> None:
                    nonlocal done
                    done += 1
                    update(done)

                finished = self._run_phases(model, teacher, train, test, recal, position, metrics, optimizer_state,
                                            epoch_loss, deadline, log, step_done)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if finished:
            if world.is_main:
                self._finish(model, metrics, log)
            world.barrier()
        return TrainResult(finished, self.out_dir, metrics)

    def _join_ranks(self, model: nn.Module) -> None:
        """Under torchrun: rank 0's weights everywhere, dropout drawn for the global batch, optional SyncBatchNorm.

        BatchNorm running statistics are not kept in step across ranks (each rank's are its own, as in
        OFA); rank 0's are the ones written.
        """
        self.world.share_weights(model)
        if self.cfg.sync_bn:
            sync_batchnorm_(model, self.world)
        shard_dropout_(model, self.rows, self.cfg.batch_size)

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and self._stop_signal:
            raise KeyboardInterrupt
        if self.world.is_main and not self._stop_signal:
            again = ("torchrun kills the workers after its --shutdown-timeout, 30 s by default" if self.world.launched
                     else "Ctrl-C again to stop at once, losing the steps since the last checkpoint"
                     if signum == signal.SIGINT else "SIGTERM")
            print(f"nasedge: stopping at the next step's checkpoint ({again})", file=sys.stderr, flush=True)
        self._stop_signal = True

    def _run_phases(self, model, teacher, train: ImageDataset, test: ImageDataset, recal, position, metrics,
                    optimizer_state, epoch_loss, deadline, log, step_done) -> bool:
        cfg = self.cfg
        n_train = len(train)
        steps_per_epoch = n_train // cfg.batch_size
        if steps_per_epoch == 0:
            raise NasedgeError(f"train.batch_size={cfg.batch_size} exceeds the {n_train} training images")
        taken = 0
        for p_idx in range(position["phase"], len(cfg.phases)):
            phase = cfg.phases[p_idx]
            space = self.static_space() if self.static_arch else phase_space(self.space, phase)
            fresh_phase = position["epoch"] == 0 and position["step"] == 0 and optimizer_state is None
            if fresh_phase and phase.sort_channels and hasattr(model, "sort_channels"):
                model.sort_channels()
            if phase.kd_weight > 0 and teacher is None:
                teacher = self._make_teacher(model)
            optimizer = torch.optim.SGD(_param_groups(model, cfg.weight_decay), lr=phase.lr,
                                        momentum=cfg.momentum, nesterov=cfg.nesterov)
            if optimizer_state is not None:
                optimizer.load_state_dict(optimizer_state)
                optimizer_state = None
            total = phase.epochs * steps_per_epoch
            for epoch in range(position["epoch"], phase.epochs):
                perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(
                    step_seed(self.seed, phase.name, epoch, -1))).to(self.device)
                # the epoch's loss averages all its steps, those before a resume included; images_per_s is the
                # rate of the steps this process took (the earlier ones were timed by another process)
                t0, seen = time.monotonic(), 0
                loss_sum, n_steps = epoch_loss or (torch.zeros((), device=self.device), 0)
                epoch_loss = None
                for step in range(position["step"], steps_per_epoch):
                    # at least one step per invocation: a budget used up by start-up must not stall a run;
                    # a stop on any rank stops every rank before the same step
                    out_of_time = time.monotonic() > deadline and taken > 0
                    if self.world.any(out_of_time or self._stop_signal):
                        position.update(phase=p_idx, epoch=epoch, step=step)
                        self._checkpoint(model, teacher, optimizer, position, metrics, (loss_sum, n_steps))
                        why = ("signal" if self._stop_signal else f"time budget of {cfg.max_minutes} min"
                               if out_of_time else "another rank stopped")
                        log(f"stopped ({why}) at phase {phase.name} epoch {epoch} step {step}; checkpoint written, "
                            f"run the same command to resume")
                        return False
                    idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                    if self.rows is not None:
                        idx = idx[self.rows]
                    for group in optimizer.param_groups:
                        group["lr"] = self.lr_scale * _lr(phase, epoch * steps_per_epoch + step, total, steps_per_epoch)
                    loss, archs = self._step(model, teacher, optimizer, space, phase, train.images[idx],
                                             train.labels[idx], step_seed(self.seed, phase.name, epoch, step))
                    loss_sum += loss
                    self._subnets_crc = zlib.crc32("".join(a.digest() for a in archs).encode(), self._subnets_crc)
                    seen += cfg.batch_size
                    n_steps += 1
                    taken += 1
                    step_done()
                position.update(phase=p_idx, epoch=epoch + 1, step=0)
                loss_sum = self.world.mean(loss_sum)
                if self.cuda:
                    torch.cuda.synchronize()
                record = {"phase": phase.name, "epoch": epoch + 1, "epochs": phase.epochs,
                          "loss": float(loss_sum) / max(1, n_steps), "lr": optimizer.param_groups[0]["lr"],
                          "images_per_s": seen / max(1e-9, time.monotonic() - t0),
                          "subnets": f"{self._subnets_crc:08x}"}
                self._subnets_crc = 0
                if (epoch + 1) % cfg.eval_every_epochs == 0 or epoch + 1 == phase.epochs:
                    record.update(self._eval(model, space, recal, test))
                metrics.append(record)
                if epoch + 1 == phase.epochs:  # the next phase starts with a fresh optimizer
                    position.update(phase=p_idx + 1, epoch=0, step=0)
                    if cfg.keep_phase_ends and not self.static_arch and self.world.is_main:
                        save_supernet(model, self.phases_dir / f"{phase.name}.pt",
                                      meta={"config": self.config_dict, "metrics": record})
                self._checkpoint(model, teacher, optimizer if position["phase"] == p_idx else None, position, metrics)
                log(json.dumps(record))  # after its checkpoint: an epoch said done is resumed after, not redone
            position.update(epoch=0, step=0)
        return True

    def static_space(self) -> SearchSpace:
        a = self.static_arch
        return self.space.restrict(resolution=[a.resolution])

    def _step(self, model, teacher, optimizer, space, phase: PhaseConfig, images, labels,
              seed: int) -> tuple[torch.Tensor, list[Arch]]:
        """One optimizer step; returns the mean loss as a device tensor (no host sync) and the subnets trained."""
        cfg = self.cfg
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)  # dropout
        g = torch.Generator(device=self.device).manual_seed(seed)
        data = self.data_cfg
        rows, total = self.rows, self.cfg.batch_size
        resolution = int(rng.choice(space.resolutions))
        x = train_batch(images, data, resolution, g, rows, total)
        if self.cuda and cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        model.train()
        target = None
        if teacher is not None and phase.kd_weight > 0:
            with torch.no_grad(), self._autocast():
                target = teacher(x)
        archs = [None] if self.static_arch else sample_subnets(space, resolution, phase.subnets_per_step,
                                                               phase.sandwich, rng)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for arch in archs:
            if arch is not None:
                model.set_active(arch)
            with self._autocast():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
            if target is not None:
                loss = loss + phase.kd_weight * soft_cross_entropy(logits, target)
            (loss / len(archs)).backward()
            total += loss.detach()
        self.world.average_gradients(model)  # several processes: once per step, not per subnet
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        return total / len(archs), [a for a in archs if a is not None]

    def _eval(self, model, space: SearchSpace, recal, test) -> dict:
        if self.static_arch:
            archs = {"arch": self.static_arch}
        else:
            top = space.restrict(resolution=[space.resolutions[-1]])  # the phase's largest resolution
            archs = {"max": top.max_arch(), "min": space.min_arch()}
        # every rank evaluates (same weights, same images: same result, no extra wall time), BatchNorm
        # recalibrated on its own
        sync = self.cfg.sync_bn and self.world.launched
        if sync:
            sync_batchnorm_(model, self.world, enable=False)
        out = {f"top1_{k}": evaluate_arch(model, a, recal, test, self.data_cfg, self.cfg.eval_batch_size, self.amp)
               for k, a in archs.items()}
        if sync:
            sync_batchnorm_(model, self.world)
        if hasattr(model, "set_active"):
            model.set_active(self.space.max_arch())
        return out

    def _checkpoint(self, model, teacher, optimizer, position, metrics, epoch_loss=None) -> None:
        """Rank 0 writes (atomically) what every rank needs to resume; the others wait for it.

        ``epoch_loss``: (this rank's loss sum, steps) of the epoch stopped in, None at an epoch's end.
        """
        rng = self.world.gather(_rng_state())
        sums = self.world.gather(epoch_loss[0].cpu()) if epoch_loss is not None else None
        if self.world.is_main:
            per_rank = self.cfg.batch_size // self.world.size
            save_checkpoint(self.ckpt_dir, {
                "config": self.config_dict,
                "position": dict(position),
                "model": model.state_dict(),
                "teacher": teacher.state_dict() if teacher is not None else None,
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": {"kind": "cosine-per-phase", "position": dict(position)},
                "metrics": metrics,
                "rng": rng if self.world.launched else rng[0],
                "subnets_crc": self._subnets_crc,
                # the epoch's record averages the loss of its steps before the stop too (one sum per rank)
                "epoch_loss": {"sums": sums, "steps": epoch_loss[1]} if epoch_loss is not None else None,
                # the next global batch is batch position["step"] of the epoch's order; rank r reads its rows
                "world_size": self.world.size,
                "num_classes": self._num_classes,  # a finished run's weights are written again without the data
                "data": {"global_batch": self.cfg.batch_size,
                         "rows": [[r * per_rank, (r + 1) * per_rank] for r in range(self.world.size)],
                         # what the data is, whatever path names it: a resume from another path checks it
                         "identity": self._data_identity},
            }, part_mib=self.cfg.checkpoint_part_mib)
            # what a long run has measured so far, readable while it runs (the checkpoint holds the same list)
            atomic_write_text(self.metrics_path, json.dumps(metrics, indent=1))
        self.world.barrier()

    def _final_files(self) -> list[Path]:
        return [self.out_dir / "model.pt"] if self.static_arch else \
            [self.out_dir / "supernet.pt", self.out_dir / "supernet_fp16.pt"]

    def _finish(self, model, metrics, log, config: dict | None = None) -> None:
        """The final weights, with ``config`` (the run's configuration; this one's where None) in their meta."""
        meta = {"config": self.config_dict if config is None else config, "metrics": metrics[-1] if metrics else {}}
        if self.static_arch:
            buf = io.BytesIO()  # atomic as the supernets: a kill while writing must not leave a part of a file
            torch.save({"arch": self.static_arch.to_dict(), "state_dict": model.state_dict(), "meta": meta}, buf)
            atomic_write_bytes(self.out_dir / "model.pt", buf.getvalue())
        else:
            save_supernet(model, self.out_dir / "supernet.pt", meta=meta)
            save_supernet(model, self.out_dir / "supernet_fp16.pt", half=True, meta=meta)
        log(f"training finished; weights in {self.out_dir}")

    def _finish_again(self, state: dict, log) -> None:
        """A finished run's checkpoint ``state``: the final weights it holds are written again where a file is
        missing, without loading the data (minutes at scale, for nothing).

        The last checkpoint is written before the final files, so a kill in between (or a user who deleted
        them) leaves a finished run without weights; the checkpoint's weights are the final ones.
        """
        missing = [p.name for p in self._final_files() if not p.is_file()]
        if not missing:
            log(f"{self.out_dir}: training already finished")
            return
        log(f"{self.out_dir}: training already finished, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; writing the final weights from {self.ckpt_dir}")
        # checkpoints made before the class count was kept: the data's, read without decoding an image
        model = self._build_model(state.get("num_classes") or len(dataset_classes(self.data_cfg)), log)
        model.load_state_dict(state["model"])
        # the configuration it was trained with: this one may name another data.path (each host's mount, a moved
        # file) that, unloaded here, was never checked to hold the data the weights were trained on
        self._finish(model, state["metrics"], log, config=state["config"])


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": list(random.getstate()[1]), "numpy": _numpy_state()}


def _numpy_state() -> list:
    st = np.random.get_state(legacy=False)["state"]
    return [st["key"].tolist(), int(st["pos"])]


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    random.setstate((3, tuple(state["python"]), None))
    key, pos = state["numpy"]
    np.random.set_state(("MT19937", np.asarray(key, dtype=np.uint32), int(pos)))


def _resumed_loss(stored: dict | None, rank: int, size: int,
                  device: torch.device) -> tuple[torch.Tensor, int] | None:
    """This rank's loss sum and step count of the epoch a checkpoint stopped in (None: it stopped at an epoch's end,
    or predates them). Another world size: every rank starts from the ranks' mean, which the epoch's mean keeps."""
    if stored is None:
        return None
    sums = stored["sums"]
    mine = sums[rank] if len(sums) == size else torch.stack([t.cpu() for t in sums]).mean()
    return mine.to(device), int(stored["steps"])


def _silent(*_: Any) -> None:
    """The log of ranks other than 0."""


def _world_size_change(before: int, now: int, cfg: TrainConfig) -> str:
    bn = ("BatchNorm statistics stay those of the global batch (train.sync_bn)" if cfg.sync_bn else
          f"per-rank BatchNorm now normalises over {cfg.batch_size // now} images instead of "
          f"{cfg.batch_size // before}")
    return (f"world size changed from {before} to {now}: the global batch ({cfg.batch_size}), learning rates and "
            f"sampled subnets stay the same; each rank now reads {cfg.batch_size // now} images per step, {bn}, and "
            f"sums are reduced in another order, so the run is no longer bit-identical to an uninterrupted one")


_TRAINING_GROUPS = ("train", "data", "search_space", "seed")


def train_from_config(cfg: Any, log=print, progress: bool = True) -> TrainResult:
    """Entry point of ``nasedge train``: ``cfg`` is the composed Hydra config (train, data, search_space, seed).

    Under torchrun, joins the process group first (one process per GPU, or gloo on CPUs).
    """
    from omegaconf import OmegaConf

    train_cfg: TrainConfig = OmegaConf.to_object(cfg.train)
    data_cfg: DataConfig = OmegaConf.to_object(cfg.data)
    space = get_space(cfg.search_space.name)
    # what the run depends on: the service, search and device groups change nothing in training, and their
    # paths (the nasedge home) would make a resume on another machine look like another configuration
    config_dict = {key: OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
                   for key in _TRAINING_GROUPS if key in cfg}
    world = init_world(train_cfg.device) if launched_by_torchrun() else None
    try:
        return Trainer(train_cfg, data_cfg, space, int(cfg.seed), config_dict, world).run(log, progress)
    finally:
        if world is not None:
            world.close()
