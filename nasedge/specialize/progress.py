"""What ``nasedge specialize`` shows while it runs: one line per finished stage, a bar for long loops (rich, stderr).

The job's algorithms report through plain ``progress(done, total)`` callbacks; only this module draws.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any


class Stages:
    """Times each stage (``seconds``, for the manifest) and prints one line per finished stage."""

    def __init__(self, console: Any):
        self.console, self.seconds = console, {}
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str, detail: str = "") -> Iterator[dict]:
        note: dict = {"detail": detail}
        t = time.perf_counter()
        with self.console.status(f"{name} ..."):
            yield note
        self.seconds[name] = round(time.perf_counter() - t, 2)
        from rich.markup import escape

        # details carry paths and pip extras (`nasedge[tflite]`) that rich would read as markup
        self.console.print(f"[green]✓[/] {name:<20} [dim]{self.seconds[name]:6.1f} s[/]  {escape(str(note['detail']))}",
                           highlight=False, soft_wrap=True)

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 2)


@contextlib.contextmanager
def progress_bar(console: Any, label: str, description: str = "", total: int | None = None,
                 interval: float = 5.0) -> Iterator[Callable[..., None]]:
    """A transient bar; yields ``update(done, total=None, description=None)`` for ``progress`` callbacks.

    When the console is not a terminal (a log, CI, nohup): a plain line every ``interval`` seconds instead.
    """
    if not console.is_terminal:
        from nasedge.progress import progress_reporter

        with progress_reporter(f"{label} {description}".strip(), total, console=console,
                               interval=interval) as plain:
            yield lambda done, total=None, description=None: plain(done, total)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int | None = None, description: str | None = None) -> None:
            bar.update(task, completed=done, **({"total": total} if total is not None else {}),
                       **({"description": description} if description is not None else {}))

        yield update


@contextlib.contextmanager
def round_bars(console: Any, label: str, interval: float = 5.0) -> Iterator[Callable[[float, int, str], None]]:
    """A :func:`progress_bar` per round of a loop whose rounds are not known up front (verification's re-measurements);
    yields ``update(done, total, what)``: a ``what`` other than the last one's ends that bar and starts one of its own,
    so that each bar's total stays what it was when it started."""
    with contextlib.ExitStack() as bars:
        shown: dict[str, Any] = {"what": None}

        def update(done: float, total: int, what: str) -> None:
            if what != shown["what"]:
                bars.close()  # the last bar's last line
                shown["what"] = what
                shown["update"] = bars.enter_context(progress_bar(console, label, what, total, interval))
            shown["update"](done, total)

        yield update
