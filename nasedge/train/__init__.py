"""Supernet training: progressive shrinking with distillation, checkpoints that resume exactly.

>>> from nasedge.train import train_from_config
>>> train_from_config(compose(["experiment=cifar10_ofa"]))
"""

from nasedge.train.checkpoint import load_checkpoint, save_checkpoint
from nasedge.train.config import PhaseConfig, TrainConfig
from nasedge.train.progressive_shrinking import TrainResult, Trainer, train_from_config

__all__ = ["PhaseConfig", "TrainConfig", "TrainResult", "Trainer", "train_from_config", "load_checkpoint",
           "save_checkpoint"]
