"""Progress of a long loop: a bar on a terminal, a plain line every few seconds otherwise (logs, CI, nohup).

Loops report through plain ``update(done, total=None)`` calls; :func:`progress_reporter` decides how it
is shown. On a terminal it is a transient rich bar; when the stream is not a terminal a heartbeat
thread prints ``<label>: <done>/<total> <unit>, <rate>/s, ETA <time>`` every ``interval`` seconds
(also while no item finishes; the first after ``interval``, so a loop that ends or fails at once
adds no line), and one last line when a loop that printed any ends, so a log never sits silent.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class PlainProgress:
    """Plain progress lines for a stream that is not a terminal (see the module docstring)."""

    def __init__(self, label: str, total: int | None, unit: str = "", stream: IO[str] | None = None,
                 interval: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.clock = interval, clock
        self.done = 0
        self._start = clock()
        self._first: int | None = None  # done at the first update: resumed items are not this run's rate
        self._printed_at = self._start
        self._printed: tuple | None = None  # (done, total) of the last line printed
        self._lock = threading.Lock()

    def line(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        unit = f" {self.unit}" if self.unit else ""
        # a group's rounds count as fractions of an arch
        rounded = round(self.done, 1)
        done = str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"
        out = f"{self.label}: {done}{total}{unit}"
        elapsed = self.clock() - self._start
        new = self.done - (self._first or 0)
        if new > 0 and elapsed > 0:
            rate = new / elapsed
            out += f", {rate:.1f}/s" if rate >= 1 else f", {elapsed / new:.1f} s each"
            if self.total is not None and self.done < self.total:
                out += f", ETA {duration((self.total - self.done) / rate)}"
        out += f", {duration(elapsed)} elapsed"
        return out

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            if self._first is None:
                self._first = done
            self.done = done
            if total is not None:
                self.total = total
        self.tick()

    def tick(self, force: bool = False) -> None:
        """Print the current line if ``interval`` has passed since the last one; ``force``: the last line
        (if any was printed and this one says something new)."""
        with self._lock:
            now = self.clock()
            state = (self.done, self.total)
            if force and state == self._printed or force and self._printed is None:
                return
            if force or now - self._printed_at >= self.interval:
                print(self.line(), file=self.stream, flush=True)
                self._printed_at, self._printed = now, state


@contextlib.contextmanager
def progress_reporter(label: str, total: int | None = None, *, unit: str = "", stream: IO[str] | None = None,
                      interval: float = 5.0, console: Any = None) -> Iterator[Callable[..., None]]:
    """Yields ``update(done, total=None)``: a rich bar on a terminal, plain lines (heartbeat) otherwise.

    ``stream`` defaults to stderr; ``console`` (a rich Console) replaces it where the caller has one.
    """
    stream = stream if stream is not None else (console.file if console is not None else sys.stderr)
    terminal = console.is_terminal if console is not None else bool(getattr(stream, "isatty", lambda: False)())
    if terminal:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        # rich moves what is printed on stdout meanwhile above the bar, onto the bar's stream: right when stdout is
        # the terminal too, but results piped to a file (`nasedge eval --json > out.jsonl`) landed on stderr
        redirect = bool(getattr(sys.stdout, "isatty", lambda: False)())
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console or Console(file=stream), transient=True, redirect_stdout=redirect) as bar:
            task = bar.add_task("", total=total)

            def update(done: int, total: int | None = None) -> None:
                bar.update(task, completed=done, **({"total": total} if total is not None else {}))

            yield update
        return
    plain = PlainProgress(label, total, unit, stream, interval)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(interval):
            plain.tick()

    thread = threading.Thread(target=heartbeat, name=f"progress {label}", daemon=True)
    thread.start()
    try:
        yield plain.update
    finally:
        stop.set()
        thread.join()
    plain.tick(force=True)
