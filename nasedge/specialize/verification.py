"""Verification: measure the search's best candidates on the device and keep those that meet the budget.

:func:`verify` measures the top-k finalists; a finalist whose measurement is flagged noisy (the protocol's
checks: unstable median, wide spread, too little CPU time) is measured again, at most :data:`NOISY_ROUNDS` more
times, and keeps the first clean measurement (or, when none is clean, the last one, still flagged noisy). While
none meets the budget it measures the next best archs the search saw, predictions scaled by the largest
measured/predicted ratio so far (at most :data:`CORRECTION_ROUNDS` more rounds), and fails with one line when
nothing does. :func:`verification_status` says what the measurements of a pick amount to: ``True`` (verified),
``"noisy"`` (measured, but the measurement cannot be trusted) or ``False`` (not measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Union

from nasedge.arch import Arch
from nasedge.errors import NasedgeError

CORRECTION_ROUNDS = 3
NOISY_ROUNDS = 2  # more measurements of a finalist flagged noisy (each costs as much as the first)
VERIFICATION_CSV = "verification.csv"  # in the output folder: the finalists' measurements, a row per arch and round


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
    # how often it was measured, and why its last measurement was flagged ("" when clean); only once measured
    measurements: Optional[int] = None
    noisy_reason: Optional[str] = None
    earlier_run: Optional[bool] = None  # its measurement was taken from the journal, as an earlier run left it

    @classmethod
    def of(cls, candidate: Any) -> Finalist:
        """A finalist from a scored search candidate (``arch``, ``objective``: accuracy, ``constraint``: ms)."""
        return cls(candidate.arch, float(candidate.objective), float(candidate.constraint))

    def record(self) -> dict[str, Any]:
        """JSON-able fields (the evaluation ones only once evaluated, the measurement ones only once measured)
        and the arch's digest."""
        evaluated = ("top1", "evaluated_on", "evaluation_s")
        measured = ("measurements", "noisy_reason", "earlier_run")
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if (f.name not in evaluated or self.top1 is not None)
               and (f.name not in measured or self.measurements is not None)}
        return out | {"arch": self.arch.to_dict(), "arch_digest": self.arch.digest()}


def verification_status(finalist: Finalist) -> Union[bool, str]:
    """``True``: measured cleanly; ``"noisy"``: measured, still flagged noisy after re-measuring; ``False``:
    not measured."""
    if finalist.measured_ms is None:
        return False
    return "noisy" if finalist.noisy else True


def verify(device: Any, scored: Sequence[Any], budget: float, top_k: int, *, ray_address: Optional[str] = None,
           progress: Optional[Callable[[float, int, str], None]] = None,
           measured: Optional[dict[Arch, Finalist]] = None, journal: Optional[Path] = None) -> list[Finalist]:
    """Measure the ``top_k`` best of ``scored`` (search candidates, best predicted accuracy first) on ``device``,
    re-measure noisy ones, then more rounds while none meets ``budget``; returns every finalist measured, in order.

    ``progress(done, total, what)`` counts the measurements of each round apart, ``total`` fixed in a round:
    ``what`` says which (``finalists``, ``noisy finalists again (measurement 2)``, ``more finalists (set 2)``) and
    differs from the round before's. One count over every round grew its total mid-run: a log said "1/3", then
    "4/4" for 3 finalists, one re-measured. ``measured`` (arch -> finalist) holds
    measurements already taken (another budget's verification): those archs are not measured again, and the
    ones measured here are added to it. ``journal``: a measurements CSV the measurements are appended to as they
    are taken (per arch, as `nasedge measure` does), so that a rerun after an interruption takes them from it
    instead of measuring again (each round of re-measurement is a row of its own).
    """
    measured = {} if measured is None else measured
    report = progress if progress is not None else lambda done, total, what: None

    def run(batch: list[Finalist], round_: int, what: str) -> list[Any]:
        if journal is not None:
            from nasedge.measure import measure_to_csv

            rows = [(f"{f.arch.digest()}.{round_}", f.arch) for f in batch]
            taken: list[str] = []
            # its first call counts the archs an earlier run measured (not this run's rate); then per arch
            by_id = {m.arch_id: m for m in measure_to_csv(device, rows, journal, ray_address=ray_address,
                                                          progress=lambda done, total: report(done, total, what),
                                                          reused=taken.extend, one_space=False)}  # no fit reads it
            for f, (i, _) in zip(batch, rows):
                f.earlier_run = i in taken
            return [by_id[i] for i, _ in rows]
        done = 0
        report(done, len(batch), what)

        def chunk_done(chunk: list) -> None:
            nonlocal done
            done += len(chunk)
            report(done, len(batch), what)

        return device.measure([f.arch for f in batch], ray_address=ray_address, on_chunk=chunk_done)

    def measure(batch: list[Finalist], what: str) -> None:
        todo = [f for f in batch if f.arch not in measured]
        for f in batch:
            if f.arch in measured:
                _copy_measurement(measured[f.arch], f)
        for round_ in range(1 + NOISY_ROUNDS):
            if not todo:
                break
            again = f"noisy finalists again (measurement {round_ + 1})"
            for f, m in zip(todo, run(todo, round_, again if round_ else what)):
                f.measured_ms, f.measured_p90_ms, f.noisy = float(m.median_ms), float(m.p90_ms), bool(m.noisy)
                f.noisy_reason = str(getattr(m, "reason", "") or "") if m.noisy else ""
                f.measurements = round_ + 1
            todo = [f for f in todo if f.noisy]
        for f in batch:
            f.within_budget = bool(f.measured_ms <= budget)
            measured.setdefault(f.arch, f)

    finalists = [Finalist.of(c) for c in scored[:top_k]]
    measure(finalists, "finalists")
    for set_ in range(2, 2 + CORRECTION_ROUNDS):
        if any(f.within_budget for f in finalists):
            break
        # the largest ratio, not the median: the archs it under-predicted most are the ones that missed
        ratio = max(f.measured_ms / f.predicted_ms for f in finalists)
        seen = {f.arch for f in finalists}
        extra = [Finalist.of(c) for c in scored if c.arch not in seen and c.constraint * ratio <= budget][:top_k]
        if not extra:
            break
        measure(extra, f"more finalists (set {set_})")
        finalists = finalists + extra
    if not any(f.within_budget for f in finalists):
        raise NasedgeError(_none_meets(finalists, budget, device.name, journal))
    return finalists


def _none_meets(finalists: list[Finalist], budget: float, device: str, journal: Optional[Path]) -> str:
    lo = min(f.measured_ms for f in finalists)
    head = (f"none of the {len(finalists)} finalists meets {budget:g} ms when measured on {device} (fastest "
            f"{lo:.3g} ms, predicted <= {budget:g} ms)")
    noisy = [f for f in finalists if f.noisy]
    if len(noisy) < len(finalists):
        said = f", {len(noisy)} of them flagged noisy" if noisy else ""
        return (f"{head}{said}: the latency profile is off here; refit it (`nasedge predictor fit --device {device}`) "
                f"or raise the budget")
    # every measurement disturbed: that says nothing about the profile, and a rerun must not reuse them
    aside = ""
    if journal is not None and journal.exists():
        moved = journal.with_name(f"{journal.stem}.noisy-{time.strftime('%Y%m%d-%H%M%S')}{journal.suffix}")
        journal.rename(moved)
        aside = f"; they are kept in {moved}, so that a rerun measures afresh"
    return (f"{head}, but every measurement was flagged noisy ({noisy[0].noisy_reason or 'disturbed'}): the device was "
            f"busy while it was measured, which says nothing of the profile; rerun when it is quiet{aside}")


def _copy_measurement(src: Finalist, dst: Finalist) -> None:
    for name in ("measured_ms", "measured_p90_ms", "noisy", "noisy_reason", "measurements", "earlier_run"):
        setattr(dst, name, getattr(src, name))


def describe_measurements(finalists: Sequence[Finalist], budget: float) -> str:
    """The verification stage's line: each finalist's measured ms (noisy ones said), how many meet the budget,
    and how many of those are noisy (they are not counted as verified)."""
    ok = [f for f in finalists if f.within_budget]
    noisy_ok = [f for f in ok if f.noisy]
    remeasured = sum(1 for f in finalists if (f.measurements or 1) > 1)
    ms = ", ".join(f"{f.measured_ms:.3g}" + (" (noisy)" if f.noisy else "") for f in finalists)
    line = f"{len(finalists)} finalists: {ms} ms; {len(ok) - len(noisy_ok)} verified within {budget:g} ms"
    if noisy_ok:
        line += f", {len(noisy_ok)} within it but noisy"
    if remeasured:
        line += f" ({remeasured} re-measured, up to {1 + NOISY_ROUNDS} times)"
    earlier = sum(1 for f in finalists if f.earlier_run)
    if earlier:
        line += f"; {earlier} of these measured by an earlier run (taken from {VERIFICATION_CSV})"
    return line
