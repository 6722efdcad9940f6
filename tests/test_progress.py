"""Progress of long loops: plain lines with rate and ETA when the output is not a terminal."""

from __future__ import annotations

import io
import time

from nasedge.progress import PlainProgress, duration, progress_reporter


def test_plain_lines_every_interval_with_rate_and_eta():
    now = [0.0]
    out = io.StringIO()
    p = PlainProgress("measure cpu", 10, "archs", out, interval=5.0, clock=lambda: now[0])
    p.update(4)  # 4 resumed from the file: not this run's rate
    for done, t in ((5, 2.0), (6, 4.0), (7, 6.0), (8, 8.0)):
        now[0] = t
        p.update(done)
    now[0] = 8.0
    p.tick(force=True)
    assert out.getvalue().splitlines() == [
        "measure cpu: 7/10 archs, 2.0 s each, ETA 6 s, 6 s elapsed",
        "measure cpu: 8/10 archs, 2.0 s each, ETA 4 s, 8 s elapsed",
    ]
    assert duration(3725) == "1 h 2 min" and duration(65) == "1 min 5 s"
    p.update(8.45)  # a group in flight counts its rounds as a fraction of an arch
    assert p.line().startswith("measure cpu: 8.4/10 archs")


def test_reporter_prints_while_nothing_finishes_and_once_at_the_end():
    out = io.StringIO()  # not a terminal
    with progress_reporter("fit", 3, stream=out, interval=0.05) as update:
        update(0)
        deadline = time.monotonic() + 30  # a slow item: heartbeat lines meanwhile (waited for, not slept on: a
        while out.getvalue().count("fit: 0/3") < 2 and time.monotonic() < deadline:  # loaded machine may stall)
            time.sleep(0.01)
        update(3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("fit: 0/3") and lines[-1].startswith("fit: 3/3, ")
    assert sum(line.startswith("fit: 0/3") for line in lines) >= 2
    with progress_reporter("quick", 3, stream=out, interval=5) as update:  # done (or failed) at once: silent
        update(3)
    assert out.getvalue().splitlines() == lines


def test_stdout_that_is_no_terminal_keeps_what_is_printed_under_a_bar(capsys):
    """A bar on a terminal stderr moved every line printed meanwhile onto stderr, also when stdout was a file:
    `nasedge eval --json > out.jsonl` in a terminal wrote its results on the screen, not in the file."""
    from rich.console import Console

    screen = io.StringIO()
    with progress_reporter("evaluate", 2, console=Console(file=screen, force_terminal=True)) as update:
        print("a result", flush=True)  # capsys' stdout: not a terminal
        update(2)
    assert capsys.readouterr().out == "a result\n" and "a result" not in screen.getvalue()
