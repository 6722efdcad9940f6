"""Typed configuration of the supernet a job uses (``conf/supernet/*.yaml``, schema ``supernet_schema``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class SupernetConfig:
    # path of a supernet checkpoint; null selects the embedded default of the search space
    checkpoint: Optional[str] = None
    # "checkpoint": weights from the checkpoint; "random": fresh initialisation (no training needed)
    init: str = "checkpoint"
    # accuracy predictor of the supernet's subnets (JSON); null: accuracy_predictor.json beside the checkpoint
    accuracy_predictor: Optional[str] = None
