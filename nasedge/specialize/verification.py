"""Verification: measure the search's best candidates on the device and keep those that meet the budget.

:func:`verify` measures the top-k finalists; while none meets the budget it measures the next best archs
the search saw, predictions scaled by the largest measured/predicted ratio so far (at most
:data:`CORRECTION_ROUNDS` more rounds), and fails with one line when nothing does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Optional

from nasedge.arch import Arch
from nasedge.errors import NasedgeError

CORRECTION_ROUNDS = 3


@dataclass
class Finalist:
    """A candidate of the search, what was measured of it on the device and, once evaluated, its true accuracy."""

    arch: Arch
    predicted_top1: float
    predicted_ms: float
    measured_ms: Optional[float] = None
    measured_p90_ms: Optional[float] = None
    noisy: Optional[bool] = None
    within_budget: Optional[bool] = None
    # set for the finalists whose accuracy was evaluated
    top1: Optional[float] = None
    evaluated_on: Optional[str] = None
    evaluation_s: Optional[float] = None

    @classmethod
    def of(cls, candidate: Any) -> Finalist:
        """A finalist from a scored search candidate (``arch``, ``objective``: accuracy, ``constraint``: ms)."""
        return cls(candidate.arch, float(candidate.objective), float(candidate.constraint))

    def record(self) -> dict[str, Any]:
        """JSON-able fields (the evaluation ones only once evaluated) and the arch's digest."""
        evaluated = ("top1", "evaluated_on", "evaluation_s")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in evaluated or self.top1 is not None}
        return out | {"arch": self.arch.to_dict(), "arch_digest": self.arch.digest()}


def verify(device: Any, scored: Sequence[Any], budget: float, top_k: int, *, ray_address: Optional[str] = None,
           progress: Optional[Callable[[int, int], None]] = None) -> list[Finalist]:
    """Measure the ``top_k`` best of ``scored`` (search candidates, best predicted accuracy first) on ``device``,
    then more rounds while none meets ``budget``; returns every finalist measured, in order.

    ``progress(done, total)`` follows the measurements of each round.
    """
    def measure(batch: list[Finalist]) -> None:
        done: list = []

        def chunk_done(chunk: list) -> None:
            done.extend(chunk)
            if progress is not None:
                progress(len(done), len(batch))

        ms = device.measure([f.arch for f in batch], ray_address=ray_address, on_chunk=chunk_done)
        for f, m in zip(batch, ms):
            f.measured_ms, f.measured_p90_ms = float(m.median_ms), float(m.p90_ms)
            f.noisy, f.within_budget = bool(m.noisy), bool(m.median_ms <= budget)

    finalists = [Finalist.of(c) for c in scored[:top_k]]
    measure(finalists)
    for _ in range(CORRECTION_ROUNDS):
        if any(f.within_budget for f in finalists):
            break
        # the largest ratio, not the median: the archs it under-predicted most are the ones that missed
        ratio = max(f.measured_ms / f.predicted_ms for f in finalists)
        seen = {f.arch for f in finalists}
        extra = [Finalist.of(c) for c in scored if c.arch not in seen and c.constraint * ratio <= budget][:top_k]
        if not extra:
            break
        measure(extra)
        finalists = finalists + extra
    if not any(f.within_budget for f in finalists):
        lo = min(f.measured_ms for f in finalists)
        raise NasedgeError(f"none of the {len(finalists)} finalists meets {budget:g} ms when measured on {device.name} "
                           f"(fastest {lo:.3g} ms, predicted <= {budget:g} ms): the latency profile is off here; refit "
                           f"it (`nasedge predictor fit --device {device.name}`) or raise the budget")
    return finalists
