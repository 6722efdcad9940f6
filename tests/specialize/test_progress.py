"""specialize's bars: when stderr is not a terminal (a log, CI, nohup), plain lines every few seconds."""

from __future__ import annotations

import io
import time

from rich.console import Console

from nasedge.specialize.progress import progress_bar


def test_a_bar_on_a_log_is_plain_lines():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with progress_bar(console, "measure cpu", "profile archs", 4, interval=0.05) as update:
        update(0)
        time.sleep(0.2)
        update(4, description="not shown in plain lines")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("measure cpu profile archs: 0/4, ") and lines[-1].startswith("measure cpu profile "
                                                                                           "archs: 4/4, ")
    assert "\x1b" not in out.getvalue()  # no terminal control sequences in a log
