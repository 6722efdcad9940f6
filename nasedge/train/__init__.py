"""Supernet training: progressive shrinking with distillation, checkpoints that resume exactly.

>>> from nasedge.train import train_from_config
>>> train_from_config(compose(["experiment=cifar10_ofa"]))

Importing the package does not import torch (1-2 s), so that composing a configuration and checking its values
stays fast: the trainer and the checkpoints import it on first use (PEP 562).
"""

from __future__ import annotations

from nasedge.lazy import lazy_names
from nasedge.train.config import PhaseConfig, TrainConfig

__all__ = ["PhaseConfig", "TrainConfig", "TrainResult", "Trainer", "train_from_config", "load_checkpoint",
           "save_checkpoint", "what_a_failed_run_keeps"]

__getattr__, __dir__ = lazy_names(__name__, {
    "load_checkpoint": "nasedge.train.checkpoint", "save_checkpoint": "nasedge.train.checkpoint",
    **{name: "nasedge.train.progressive_shrinking"
       for name in ("TrainResult", "Trainer", "train_from_config", "what_a_failed_run_keeps")}},
    globals(), __all__)
