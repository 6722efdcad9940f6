"""Measurement callbacks: what a device calls to turn workloads into latencies.

A device config names its callback in ``measure._target_`` (import path of a :class:`Measurer`
subclass) with the constructor's arguments beside it; users plug in their own (a phone over adb, a
board over serial) by writing one class and one YAML. The built-in :class:`RuntimeMeasurer` runs a
registered runtime in this process with fixed threads, pinned cores and the measurement protocol.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nasedge.errors import NasedgeError, is_integer, is_real, returned, shown
from nasedge.measure.protocol import (LatencyStats, MachineCheck, OffsetLog, ProtocolConfig, RoundLog, Runner,
                                      measure_interleaved, settled_by_log)
from nasedge.measure.runtime import get_runtime
from nasedge.measure.workload import Artifacts, Probe, Workload


class Measurer(abc.ABC):
    """Turns workloads into latency statistics, in order. Must be constructible from plain config values."""

    # how many workloads a call should get at once (a device chunks by it, or by its protocol's where its YAML
    # gives the measurer a protocol: Device.group_size)
    group_size: int = 1
    # whether measure() takes a RoundLog (``log=``) and resumes a group from it (a kill then costs a round)
    keeps_rounds: bool = False

    @abc.abstractmethod
    def measure(self, workloads: Sequence[Workload], artifacts: Artifacts | None = None) -> list[LatencyStats]:
        """One :class:`LatencyStats` per workload (with ``keeps_rounds``, also a ``log: RoundLog`` keyword)."""

    def describe(self) -> dict[str, Any]:
        """How it measures (settings, library versions, hardware), for the record."""
        return {"measurer": f"{type(self).__module__}.{type(self).__qualname__}"}

    @classmethod
    def unavailable(cls, arguments: Mapping[str, Any]) -> str | None:
        """Why a measurer built with ``arguments`` could not measure on this machine (a missing module or
        hardware), in a few words, or ``None``; cheap: nothing is built or measured."""
        return None


class MeasurerNotImported(NasedgeError):
    """A measurer whose ``_target_`` does not import here (its plugin is not installed on this machine): the device
    is unavailable here, its YAML may well be right."""


def measurer_class(section: Mapping[str, Any], source: str) -> type[Measurer]:
    """The :class:`Measurer` subclass that ``section['_target_']`` names (imported, not built)."""
    target = section.get("_target_")
    if not isinstance(target, str) or "." not in target:
        raise NasedgeError(f"{source}: field '_target_': value {target!r} is not valid; expected the import "
                           "path of a Measurer class, e.g. nasedge.measure.RuntimeMeasurer")
    module, _, attr = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise MeasurerNotImported(f"{source}: field '_target_': cannot import {target!r} ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, Measurer)):
        raise NasedgeError(f"{source}: field '_target_': {target!r} is not a Measurer subclass")
    return cls


def measurer_unavailable(section: Mapping[str, Any], source: str = "measure") -> str | None:
    """Why the measurer of ``section`` (``_target_`` + arguments) cannot measure here, or ``None``; a ``_target_``
    that is no Measurer class (``os.system``) is no reason of this machine's but a wrong YAML, and raises."""
    try:
        cls = measurer_class(section, source)
    except MeasurerNotImported as exc:
        return str(exc)
    return cls.unavailable({k: v for k, v in section.items() if k != "_target_"})


def instantiate_measurer(section: Mapping[str, Any], source: str = "measure") -> Measurer:
    """Build the measurer named by ``section['_target_']`` with the section's other keys as arguments."""
    cls = measurer_class(section, source)
    section = {k: v for k, v in section.items() if k != "_target_"}
    try:
        return cls(**section)
    except TypeError as exc:
        raise NasedgeError(f"{source}: {exc}") from None
    except NasedgeError as exc:  # a runtime's or protocol's own check: say which file it is about
        if str(exc).startswith(source):
            raise
        raise NasedgeError(f"{source}: {str(exc).removeprefix('measure: ')}") from None


@contextlib.contextmanager
def pinned(cores: Sequence[int]) -> Iterator[None]:
    """Run the calling thread (and threads it starts meanwhile) on ``cores`` only; restore afterwards."""
    if not hasattr(os, "sched_setaffinity"):  # not Linux: no pinning, the protocol's checks still apply
        yield
        return
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cores))
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def raise_priority(nice: int) -> list[str]:
    """Run this process at ``nice`` and, on Linux with scheduler autogroups, its session at ``nice`` too.

    With autogroups (the default on desktop and many server kernels) the CPU is shared fairly between
    *sessions* first, so a plain ``nice -n -5`` only ranks processes within their own session; the
    session's autogroup nice is what ranks it against others. It is changed only when this process
    leads its own session (start it with ``setsid -w``), never for a session it merely belongs to.
    Returns what was done, in words; a negative ``nice`` needs root.
    """
    done = []
    try:
        os.nice(nice - os.nice(0))
        done.append(f"nice {os.nice(0)}")
    except OSError as exc:
        done.append(f"nice unchanged ({exc.strerror})")
    autogroup = "/proc/self/autogroup"
    if os.path.exists(autogroup):
        if os.getsid(0) != os.getpid():
            done.append("autogroup unchanged (not a session leader; start with setsid -w)")
        else:
            try:
                with open(autogroup, "w") as f:
                    f.write(str(nice))
                done.append(f"autogroup nice {nice}")
            except OSError as exc:
                done.append(f"autogroup unchanged ({exc.strerror})")
    return done


def cpu_model() -> str:
    """The CPU's model name (for the record of where a measurement ran)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class RuntimeMeasurer(Measurer):
    """Measure with a registered runtime in this process.

    ``threads``: compute threads (``None``: every core this process may use). ``cores``: the cores to
    pin to (``None``: the last ``threads`` usable cores; core 0 tends to take most interrupts).
    ``protocol``: :class:`ProtocolConfig` fields. Other keyword arguments are runtime options.
    """

    def __init__(self, runtime: str, threads: int | None = None, batch: int = 1, precision: str = "fp32",
                 cores: Sequence[int] | None = None, protocol: Mapping[str, Any] | ProtocolConfig | None = None,
                 **options: Any):
        usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        threads = len(usable) if threads is None else threads
        cls = get_runtime(runtime)
        missing = cls.missing()
        if missing:
            raise NasedgeError(missing)
        self.runtime = cls(threads=threads, batch=batch, precision=precision, **options)
        if cores is None:
            cores = usable[-threads:] if threads <= len(usable) else usable
        elif isinstance(cores, (str, bytes)) or not isinstance(cores, Sequence) \
                or not all(is_integer(c) for c in cores):
            raise NasedgeError(f"measure: field 'cores': value {cores!r} is not valid; expected a list of core "
                               f"numbers, e.g. [{usable[-1]}]")
        elif len(set(cores)) < threads:  # the threads would share cores, and every result be flagged for it
            raise NasedgeError(f"measure: field 'cores': value {list(cores)!r} is not valid; {threads} threads "
                               f"need as many cores (or set threads)")
        cores = [int(c) for c in cores]
        if not cores or not set(cores) <= set(range(os.cpu_count() or 1)):
            raise NasedgeError(f"measure: field 'cores': value {cores!r} is not valid; this machine has cores "
                               f"0..{(os.cpu_count() or 1) - 1}")
        self.cores = cores
        self.protocol = protocol if isinstance(protocol, ProtocolConfig) else ProtocolConfig.from_dict(
            protocol, "measure.protocol")
        self.group_size = self.protocol.group_size
        p = self.protocol
        # one check per measurer: it learns the machine's usual speed over every call
        self.check = MachineCheck(p.probe_s, p.probe_tolerance, p.probe_wait_s) if p.probe_s > 0 else None
        # the machine check may time a group again from scratch (its rounds then no longer count): no log
        self.keeps_rounds = self.check is None
        self._probe_artifacts = Artifacts()

    @classmethod
    def unavailable(cls, arguments: Mapping[str, Any]) -> str | None:
        """What the runtime (its registry entry and class) says this machine lacks for these settings."""
        runtime = arguments.get("runtime")
        known = ("threads", "batch", "precision", "cores", "protocol")
        try:
            runtime_cls = get_runtime(runtime)
        except NasedgeError as exc:
            return str(exc)
        return runtime_cls.unavailable({k: v for k, v in arguments.items() if k not in (*known, "runtime")})

    def measure(self, workloads: Sequence[Workload], artifacts: Artifacts | None = None,
                log: RoundLog | None = None) -> list[LatencyStats]:
        """``log`` (without a machine check): the groups' rounds go there, and a group resumes from it."""
        artifacts = artifacts if artifacts is not None else Artifacts()
        out: list[LatencyStats] = []
        if self.check is not None:
            self.runtime.prepare(Probe(), self._probe_artifacts)
        for start in range(0, len(workloads), self.group_size):
            group = workloads[start:start + self.group_size]
            group_log = None if log is None or self.check is not None else OffsetLog(log, start)
            # a resumed group builds and loads only the workloads its restored rounds do not settle yet: a kill
            # costs the round in flight, not the group's conversions again (minutes for TensorRT engines)
            done = ([False] * len(group) if group_log is None
                    else settled_by_log(group_log, len(group), self.protocol))
            for w, d in zip(group, done):  # build outside the timed, pinned part (conversion may use every core)
                if not d:
                    self.runtime.prepare(w, artifacts)
            with self.runtime.session(), pinned(self.cores):
                runners = [None if d else self._load(w, artifacts) for w, d in zip(group, done)]
                if self.check is None:
                    out.extend(measure_interleaved(runners, self.protocol, self.runtime.cpu_threads, group_log))
                else:
                    probe = self._load(Probe(), self._probe_artifacts)
                    out.extend(self.check.measure(runners, probe, self.protocol, self.runtime.cpu_threads))
                del runners
        return out

    def _load(self, workload: Workload, artifacts: Artifacts) -> Runner:
        """The runtime's runner of ``workload``, checked: a runtime (a plugin's) whose ``load`` returns no function,
        or whose runner returns no number of milliseconds, is one line naming it (not numpy's error, deep in the
        protocol). Only the value is checked, outside the runner's own timing."""
        who = f"runtime {self.runtime.name!r} ({type(self.runtime).__qualname__})"
        runner = self.runtime.load(workload, artifacts)
        if not callable(runner):
            raise returned(f"{who}: load()", shown(runner), "a runner (a function that returns milliseconds)")

        def run() -> float:
            ms = runner()
            if not is_real(ms):
                raise returned(f"{who}: its runner", shown(ms), "a latency in milliseconds (a number)")
            return ms
        return run

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.runtime.describe(), "cores": self.cores,
                "protocol": vars(self.protocol), "versions": self.runtime.versions(), "cpu": cpu_model(),
                "host": platform.node(), "python": platform.python_version()}
