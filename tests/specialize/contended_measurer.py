"""A measurement callback that a device config selects (``measure._target_``) whose timings are made noisy by a real
cause: while it measures, a competing thread of this process alternates 1 ms of Python work (holding the GIL) with
1 ms of sleep, so about half of the timed runs wait for the GIL before their timer stops. The runtime and the
protocol are the real ones (:class:`~nasedge.measure.RuntimeMeasurer`); the protocol flags the spread.

``contended_calls``: how many of its ``measure`` calls run contended (the later ones run alone). ``CALLS`` records
the calls, across the instances of this process (a device builds its measurer per measurement).
"""

from __future__ import annotations

import contextlib
import threading
import time

from nasedge.measure import RuntimeMeasurer

CALLS: list[int] = []  # one entry per measure() call: how many workloads it got


class ContendedMeasurer(RuntimeMeasurer):
    def __init__(self, contended_calls: int = 1_000_000, **kwargs):
        super().__init__(**kwargs)
        self.contended_calls = contended_calls

    def measure(self, workloads, artifacts=None):
        contended = len(CALLS) < self.contended_calls
        CALLS.append(len(workloads))
        with _competing_thread() if contended else contextlib.nullcontext():
            return super().measure(workloads, artifacts)


@contextlib.contextmanager
def _competing_thread(busy_s: float = 1e-3, idle_s: float = 1e-3):
    stop = threading.Event()

    def compete() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            while time.perf_counter() - t < busy_s:  # pure Python: holds the GIL
                pass
            time.sleep(idle_s)

    thread = threading.Thread(target=compete, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
