"""Typed configuration of the ``search_space`` group: one entry per file in ``search_spaces/``, no YAML."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchSpaceConfig:
    name: str = "ofa_mbv3_cifar"
