"""How closely an exported file must reproduce the model: within a tolerance relative to the largest output.

Another runtime sums in another order than PyTorch, and float32 rounding grows with the outputs: a 1000-class head
at 224 px whose BatchNorm statistics came from other images gives logits of several hundred on random inputs and
differences of a few 1e-3, which an absolute tolerance of 1e-4 refused.
"""

from __future__ import annotations

import numpy as np


def output_gap(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """``(max abs difference, largest output magnitude but at least 1)``; the outputs agree within ``atol`` when
    ``diff <= atol * scale`` (false for NaN)."""
    return float(np.abs(got - expected).max()), max(1.0, float(np.abs(expected).max()))
