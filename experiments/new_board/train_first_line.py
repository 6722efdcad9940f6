"""Seconds from starting ``nasedge train`` to its first output line (and its first lines), output not a terminal.

  cd <repo> && PYTHONPATH=$PWD nice -n 5 python experiments/new_board/train_first_line.py --seconds 90 -- \
      experiment=cifar10_ofa train.out_dir=/tmp/first_line_shipped

Runs ``python -m nasedge train <overrides>`` with stdout and stderr piped (as in a log or CI), prints
each line with its time since start, and stops the run (SIGTERM: it checkpoints and exits) after
``--seconds`` or ``--lines`` lines.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--lines", type=int, default=6)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "nasedge", "train", *args.overrides], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    first, n = None, 0
    while time.monotonic() - t0 < args.seconds and n < args.lines:
        if not sel.select(timeout=0.5):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        t = time.monotonic() - t0
        first = t if first is None else first
        n += 1
        print(f"{t:6.1f} s  {line.decode().rstrip()[:160]}", flush=True)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"first line after {first:.1f} s" if first is not None else f"no line within {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
