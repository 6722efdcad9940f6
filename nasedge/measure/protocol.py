"""The measurement protocol: how repeated timings of a few runners become latencies one can trust.

Runners are measured *interleaved*: every round times each runner a few times in turn (the order
rotates each round), and a runner's latency is the median of its per-round medians. A slow drift of
the machine (another job starting, frequency or thermal changes) then affects all runners of a
group alike instead of biasing whichever happened to run at the bad moment, and a disturbed round
moves one of several round medians rather than the result.

A runner stays in the rounds until its median is stable, i.e. its robust standard error
(1.2533 x 1.4826 x MAD of the round medians / sqrt(rounds)) is within ``tolerance`` of the median;
the rounds end when no runner is left or at the time bound. A :class:`RoundLog` receives every round as
it is timed and gives a group cut short the rounds it had (:mod:`nasedge.measure.round_journal`).
A result is flagged ``noisy`` with its reason when the median did not stabilise (its relative standard
error is still above ``max_rse``), when the spread of single timings (IQR / median) exceeds
``max_spread``, or, on CPUs, when the process got less than
``min_cpu_share`` of the cores it asked for (it was descheduled: other processes compete for the
cores; the latency is then inflated even when it looks steady). ``on_noisy: raise`` refuses such results instead.

A :class:`MachineCheck` (``probe_s > 0``) guards against what none of these statistics can see: the
whole machine running slower for a while. On this project's 2-vCPU virtual machine, two-thread
inference alternates between a 1.8x and a 1.15x speed-up over one thread in episodes of 10-50 s
(only work the two threads share slows down: presumably where the host runs the virtual CPUs at
times); inside an episode the timings are as steady as outside it. The measurer times a fixed probe network just before and just
after each measurement, waits while the probe is slower than the fastest it has seen, measures again
when the probe slowed down meanwhile, and flags the result when the machine did not recover in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

import numpy as np

from nasedge.errors import NasedgeError, is_finite_real, is_integer, is_real

Runner = Callable[[], float]  # one inference; returns its latency in milliseconds
ON_NOISY = ("flag", "raise")
UNBOUNDED = ("max_seconds", "max_rse", "max_spread", "probe_tolerance", "probe_wait_s")  # fields .inf may lift


@dataclass
class ProtocolConfig:
    """Settings of :func:`measure_interleaved` (the ``protocol`` section of a device's ``measure``)."""

    warmup_runs: int = 5  # untimed runs per runner before the first round, at least ...
    warmup_s: float = 0.1  # ... and at least this long per runner
    round_s: float = 0.05  # timed runs per round per runner: enough to fill this time ...
    min_repeats: int = 2  # ... but at least this many
    max_repeats: int = 50  # ... and at most this many
    min_rounds: int = 10  # also spreads each runner over a longer window: less hurt by short bursts
    max_rounds: int = 40
    tolerance: float = 0.01  # stop when every median's relative standard error is within this
    max_rse: float = 0.03  # flag when a median's relative standard error is still above this at the end
    max_seconds: float = 10.0  # time bound per runner (the group gets max_seconds x runners)
    max_spread: float = 0.25  # flag when IQR / median of single timings exceeds this
    min_cpu_share: float = 0.9  # CPU only: flag when CPU time / (wall time x threads) falls below this
    # Runners measured interleaved at once (memory bounds it: one model each). Their rows exist when the group
    # ends; measure_to_csv keeps the group's rounds in a round journal meanwhile (a device on a Ray node streams
    # them back), so a kill costs the round in flight (with a MachineCheck, the group). The one-thread CPU
    # devices interleave the 20 archs of a profile as one group (their YAML), which makes a drift of the machine
    # common to them (experiments/measurement_trust, "Drift"); the default measures one at a time, as
    # multi-threaded sessions slow the next one of a group, and a device without a journal loses only the arch
    # in flight.
    group_size: int = 1
    probe_s: float = 0.0  # > 0: time a probe network this long before and after each group (MachineCheck)
    probe_tolerance: float = 0.15  # the probe may be this much slower than its fastest median ...
    probe_wait_s: float = 60.0  # ... else wait up to this long per group for the machine to recover
    on_noisy: str = "flag"  # flag | raise

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "on_noisy":
                ok, expected = value in ON_NOISY, " or ".join(ON_NOISY)
            elif f.type == "int":  # 5.0 is taken as 5 (a count compared and used in range())
                whole = is_finite_real(value) and float(value).is_integer()
                ok, expected = is_integer(value) or whole, "an integer"
                if ok:
                    setattr(self, f.name, int(value))
            else:  # .inf means something in a few (max_seconds: stop on rounds only; max_spread: never flag)
                ok = is_finite_real(value) or (f.name in UNBOUNDED and is_real(value) and value == math.inf)
                expected = "a number" + (" or .inf" if f.name in UNBOUNDED else "")
            if not ok:
                raise NasedgeError(f"measurement protocol: field '{f.name}': value {value!r} is not valid; "
                                   f"expected {expected}")
        checks = [
            ("warmup_runs", self.warmup_runs >= 0, "at least 0"), ("warmup_s", self.warmup_s >= 0, "at least 0"),
            ("round_s", self.round_s > 0, "above 0"), ("min_repeats", self.min_repeats >= 1, "at least 1"),
            ("max_repeats", self.max_repeats >= self.min_repeats, f"at least min_repeats ({self.min_repeats})"),
            ("min_rounds", self.min_rounds >= 2, "at least 2"),
            ("max_rounds", self.max_rounds >= self.min_rounds, f"at least min_rounds ({self.min_rounds})"),
            ("tolerance", self.tolerance > 0, "above 0"),
            ("max_rse", self.max_rse >= self.tolerance, f"at least tolerance ({self.tolerance})"),
            ("max_seconds", self.max_seconds > 0, "above 0"), ("max_spread", self.max_spread > 0, "above 0"),
            ("min_cpu_share", 0 <= self.min_cpu_share <= 1, "from 0 to 1"),
            ("group_size", self.group_size >= 1, "at least 1"),
            ("probe_s", self.probe_s >= 0, "at least 0"), ("probe_tolerance", self.probe_tolerance > 0, "above 0"),
            ("probe_wait_s", self.probe_wait_s >= 0, "at least 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise NasedgeError(f"measurement protocol: field '{name}': value {getattr(self, name)!r} is not "
                                   f"valid; expected {expected}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "protocol") -> ProtocolConfig:
        """The protocol of a mapping (a device's ``measure.protocol``); errors name ``source``."""
        if data is not None and not isinstance(data, Mapping):
            raise NasedgeError(f"{source}: {data!r} is not valid; expected a mapping of protocol settings")
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NasedgeError(f"{source}: unknown field '{unknown[0]}'; known: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except NasedgeError as exc:  # name the file and section rather than "measurement protocol"
            raise NasedgeError(f"{source}: {str(exc).removeprefix('measurement protocol: ')}") from None


@dataclass(frozen=True)
class LatencyStats:
    """What the protocol reports for one runner (milliseconds)."""

    median_ms: float  # median of the per-round medians
    p90_ms: float  # 90th percentile of single timings
    mean_ms: float
    min_ms: float
    spread: float  # (p75 - p25) / median of single timings
    rse: float  # robust relative standard error of median_ms
    samples: int
    rounds: int
    cpu_share: float | None  # CPU time / (wall time x threads) while timing; None when not measured
    noisy: bool
    reason: str  # why it is flagged noisy ("" when not)
    probe_ms: float | None = None  # the slower MachineCheck probe median around it; None when not checked

    def to_dict(self) -> dict:
        return asdict(self)


def _rse(round_medians: Sequence[float]) -> float:
    m = np.asarray(round_medians)
    med = float(np.median(m))
    mad = float(np.median(np.abs(m - med)))
    return 1.2533 * 1.4826 * mad / math.sqrt(len(m)) / med if med > 0 else math.inf


@dataclass(frozen=True)
class Round:
    """One runner's timings of one round (ms), with the CPU and wall time they took (s)."""

    timings: tuple[float, ...]
    cpu_s: float
    wall_s: float


class RoundLog(Protocol):
    """Where the rounds of an interleaved group go as they are timed, so that a group cut short by a kill
    resumes from its rounds instead of timing them again (:class:`nasedge.measure.round_journal.RoundJournal`)."""

    def restore(self, runner: int) -> list[Round]:
        """The rounds of ``runner`` timed before (by an earlier, interrupted run)."""

    def record(self, rounds: dict[int, Round]) -> None:
        """Keep the rounds just timed (runner -> its round), durably."""


class OffsetLog:
    """The runners of ``log`` from ``start`` on, as a log of their own (runner ``i`` is ``log``'s ``start + i``):
    what a group of a longer list of workloads gets."""

    def __init__(self, log: RoundLog, start: int):
        self.log, self.start = log, start

    def restore(self, runner: int) -> list[Round]:
        return self.log.restore(self.start + runner)

    def record(self, rounds: dict[int, Round]) -> None:
        self.log.record({self.start + i: r for i, r in rounds.items()})


def _settled(round_medians: Sequence[float], protocol: ProtocolConfig) -> bool:
    """Whether a runner with these round medians needs no more rounds."""
    return len(round_medians) >= protocol.max_rounds or (
        len(round_medians) >= protocol.min_rounds and _rse(round_medians) <= protocol.tolerance)


def settled_by_log(log: RoundLog, n: int, protocol: ProtocolConfig) -> list[bool]:
    """For each of the ``n`` runners of ``log``: whether the rounds it restores already settle it, so that
    :func:`measure_interleaved` will not call it (a resumed group need not build or load its workload)."""
    return [_settled([float(np.median(r.timings)) for r in log.restore(i)], protocol) for i in range(n)]


def measure_interleaved(runners: Sequence[Runner | None], protocol: ProtocolConfig,
                        cpu_threads: int | None = None, log: RoundLog | None = None) -> list[LatencyStats]:
    """Time ``runners`` interleaved until their medians are stable or the time bound is reached.

    ``cpu_threads``: how many cores the runners should get; when given, the process CPU time is
    compared with the wall time to detect that other processes took the cores away. ``log``: each round
    is recorded there once every runner of it is timed, and a runner starts from the rounds it restores
    (the rules count them like rounds timed now); one that they already settle (:func:`settled_by_log`)
    is never called, not even warmed up, and may be ``None``.
    """
    n = len(runners)
    if n == 0:
        return []
    samples: list[list[float]] = [[] for _ in range(n)]
    round_medians: list[list[float]] = [[] for _ in range(n)]
    wall = [0.0] * n
    cpu = [0.0] * n

    def add(i: int, r: Round) -> None:
        samples[i].extend(r.timings)
        round_medians[i].append(float(np.median(r.timings)))
        wall[i] += r.wall_s
        cpu[i] += r.cpu_s

    for i in range(n):
        for r in log.restore(i) if log is not None else ():
            add(i, r)

    def settled(i: int) -> bool:
        return _settled(round_medians[i], protocol)

    active = [i for i in range(n) if not settled(i)]  # runners whose median is not yet stable
    if any(runners[i] is None for i in active):
        raise ValueError("a runner its restored rounds do not settle is None")
    repeats = [0] * n
    for i in active:
        run = runners[i]
        t0, times = time.perf_counter(), []
        while len(times) < protocol.warmup_runs or time.perf_counter() - t0 < protocol.warmup_s:
            times.append(run())
        estimate = _positive(i, float(np.median(times[len(times) // 2:])) if times else run())
        fill = math.ceil(protocol.round_s * 1e3 / max(estimate, 1e-6))  # runs that fill round_s
        repeats[i] = min(protocol.max_repeats, max(protocol.min_repeats, fill))
    deadline = time.perf_counter() + protocol.max_seconds * n
    rounds = 0
    while active:
        k = rounds % len(active)
        timed = {}
        for i in active[k:] + active[:k]:  # rotate who goes first: no runner always follows the same one
            c0, w0 = time.process_time(), time.perf_counter()
            ts = [runners[i]() for _ in range(repeats[i])]
            timed[i] = Round(tuple(ts), time.process_time() - c0, time.perf_counter() - w0)
            add(i, timed[i])
            _positive(i, round_medians[i][-1])
        if log is not None:
            log.record(timed)
        rounds += 1
        if all(len(round_medians[i]) >= protocol.min_rounds for i in active) and time.perf_counter() > deadline:
            break
        active = [i for i in active if not settled(i)]
    stats = [_stats(samples[i], round_medians[i], cpu[i] / wall[i] / cpu_threads if cpu_threads else None,
                    protocol) for i in range(n)]
    _refuse_noisy(stats, protocol)
    return stats


def _positive(runner: int, ms: float) -> float:
    """A runner's median timing, refused where it is no positive latency (NaN failed deep in the arithmetic, and
    0 was reported as a noisy result whose relative error was infinite)."""
    if not (math.isfinite(ms) and ms > 0):
        raise NasedgeError(f"runner #{runner} timed {ms!r} ms: not a positive latency (is its timer coarser than "
                           f"the network?)")
    return ms


class NoisyRefused(NasedgeError):
    """Results refused under ``on_noisy: raise``: a caller that keeps rounds for a rerun drops those of the group
    (restored, they would settle it and be refused again, never timed afresh)."""


def _refuse_noisy(stats: Sequence[LatencyStats], protocol: ProtocolConfig) -> None:
    """With ``on_noisy: raise``, refuse a set of results of which any is flagged noisy."""
    if protocol.on_noisy != "raise":
        return
    bad = [(i, s) for i, s in enumerate(stats) if s.noisy]
    if bad:
        i, s = bad[0]
        raise NoisyRefused(f"{len(bad)} of {len(stats)} measurements are noisy (first: #{i}, {s.median_ms:.3f} ms: "
                           f"{s.reason}); refusing them (protocol on_noisy: raise)")


def _stats(samples: list[float], round_medians: list[float], cpu_share: float | None,
           protocol: ProtocolConfig) -> LatencyStats:
    x = np.asarray(samples)
    q25, q50, q75, q90 = (float(v) for v in np.percentile(x, [25, 50, 75, 90]))
    median = float(np.median(round_medians))
    spread = (q75 - q25) / q50 if q50 > 0 else math.inf
    rse = _rse(round_medians)
    reasons = []
    if rse > protocol.max_rse:
        reasons.append(f"median not stable within the time bound (relative standard error {rse:.1%} > "
                       f"{protocol.max_rse:.1%})")
    if spread > protocol.max_spread:
        reasons.append(f"spread of single timings {spread:.1%} > {protocol.max_spread:.0%}")
    if cpu_share is not None and cpu_share < protocol.min_cpu_share:
        reasons.append(f"got {cpu_share:.0%} of the requested CPU time (other processes compete for the cores)")
    return LatencyStats(median_ms=median, p90_ms=q90, mean_ms=float(x.mean()), min_ms=float(x.min()),
                        spread=spread, rse=rse, samples=len(x), rounds=len(round_medians), cpu_share=cpu_share,
                        noisy=bool(reasons), reason="; ".join(reasons))


class MachineCheck:
    """Tells whether the machine runs at its usual speed, by timing a fixed probe runner.

    The usual speed is the fastest probe median seen so far, so a check that starts during a slow
    episode judges too leniently until the machine first speeds up; each result therefore records its
    probe median (``LatencyStats.probe_ms``) and can be judged again against a later, faster one.
    """

    def __init__(self, seconds: float, tolerance: float, wait_s: float,
                 sleep: Callable[[float], None] = time.sleep):
        self.seconds, self.tolerance, self.wait_s = seconds, tolerance, wait_s
        self.best = math.inf
        self._sleep = sleep

    def probe(self, runner: Runner) -> float:
        """The probe's median latency (ms) over ``seconds`` of timed runs, after 3 untimed ones."""
        for _ in range(3):
            runner()
        t0, times = time.perf_counter(), []
        while len(times) < 5 or time.perf_counter() - t0 < self.seconds:
            times.append(runner())
        median = float(np.median(times))
        self.best = min(self.best, median)
        return median

    def usual(self, probe_ms: float) -> bool:
        return probe_ms <= self.best * (1 + self.tolerance)

    def slowdown(self, probe_ms: float) -> float:
        return probe_ms / self.best - 1

    def measure(self, runners: Sequence[Runner], probe: Runner, protocol: ProtocolConfig,
                cpu_threads: int | None = None) -> list[LatencyStats]:
        """:func:`measure_interleaved` between two probes, repeated while the machine ran slow.

        Waits (sleeping) for the probe to be usual before measuring; measures again when the probe
        after the measurement is not usual; stops waiting after ``wait_s`` and returns the attempt
        with the fastest probe, flagged noisy when even that probe was not usual.
        """
        deadline = time.perf_counter() + self.wait_s
        best: tuple[float, list[LatencyStats]] | None = None
        while True:
            before = self.probe(probe)
            while not self.usual(before) and time.perf_counter() < deadline:
                self._sleep(min(1.0, self.wait_s))
                before = self.probe(probe)
            stats = measure_interleaved(runners, protocol, cpu_threads)
            after = self.probe(probe)
            worst = max(before, after)
            if best is None or worst < best[0]:
                best = (worst, stats)
            if self.usual(worst) or time.perf_counter() >= deadline:
                break
        worst, stats = best
        out = []
        for s in stats:
            reason = s.reason
            if not self.usual(worst):
                slow = (f"the machine ran {self.slowdown(worst):.0%} slower than its usual speed (probe "
                        f"{worst:.3f} ms, fastest {self.best:.3f} ms)")
                reason = f"{reason}; {slow}" if reason else slow
            out.append(LatencyStats(**{**s.to_dict(), "probe_ms": worst, "noisy": bool(reason), "reason": reason}))
        _refuse_noisy(out, protocol)
        return out
