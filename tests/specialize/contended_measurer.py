"""A measurement callback that a device config selects (``measure._target_``) whose timings are made noisy by a real
cause: while it measures, two busy processes run on the very core the measurement is pinned to, so the runtime gets
a share of that core and the protocol flags the result (too little of the requested CPU time, or an unstable median).
The runtime and the protocol are the real ones (:class:`~nasedge.measure.RuntimeMeasurer`).

``contended_calls``: how many of its ``measure`` calls run contended (the later ones run alone). ``CALLS`` records
the calls, across the instances of this process (a device builds its measurer per measurement).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

from nasedge.measure import RuntimeMeasurer

CALLS: list[int] = []  # one entry per measure() call: how many workloads it got


class ContendedMeasurer(RuntimeMeasurer):
    def __init__(self, contended_calls: int = 1_000_000, **kwargs):
        super().__init__(**kwargs)
        self.contended_calls = contended_calls

    def measure(self, workloads, artifacts=None, **journal):  # journal: the round journal's, when measured into a file
        contended = len(CALLS) < self.contended_calls
        CALLS.append(len(workloads))
        with _busy_processes(self.cores, 2) if contended else contextlib.nullcontext():
            return super().measure(workloads, artifacts, **journal)


@contextlib.contextmanager
def _busy_processes(cores, n: int):
    code = (f"import os; os.sched_setaffinity(0, {set(cores)!r}); print('ready', flush=True)\n"
            "while True: pass")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"  # they run on the core before the first timing
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
