"""What experiment scripts share: bad input answered in one line with exit status 2, and default paths that
do not depend on the folder a script is started from.

A script imports it after putting this folder on ``sys.path``::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
    from expcli import ArgumentParser, run  # noqa: E402  (after the sys.path entry)

    def main() -> int: ...
    if __name__ == "__main__":
        run(main)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from nasedge.errors import NasedgeError

REPO = Path(__file__).resolve().parents[1]
# the shared datasets: $NASEDGE_DATASETS, else ../shared/datasets beside the repository (experiments/README.md)
DATASETS = Path(os.environ.get("NASEDGE_DATASETS", REPO.parent / "shared" / "datasets"))
CIFAR10 = Path(os.environ.get("NASEDGE_CIFAR10", DATASETS / "cifar10-jpeg.npz"))


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with its errors in one line (``<prog>: error: <message>``, exit 2), not the usage too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(message: str) -> NoReturn:
    """``<script>: error: <message>`` on stderr, exit status 2."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def run(main: Callable[..., int | None], *args: object) -> NoReturn:
    """Run ``main(*args)`` and exit with what it returns (None: 0); a :class:`NasedgeError` (bad input, named in
    its message) is one line on stderr and exit status 2, Ctrl-C a line and 130, never a traceback."""
    try:
        status = main(*args)
    except NasedgeError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print(f"{Path(sys.argv[0]).name}: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(status or 0)


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1 (argparse names the flag and the value when it is not)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "integer of at least 1"  # argparse: "invalid integer of at least 1 value: '0'"


def numbers(flag: str, text: str, kind: type, low: float, high: float | None = None) -> list:
    """``--flag 1,2,3``: a comma-separated list of finite ``kind`` from ``low`` (to ``high``), else a one-line
    error naming the flag and the value."""
    try:
        values = [kind(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or any(not math.isfinite(v) or v < low or high is not None and v > high for v in values):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        raise NasedgeError(f"{flag}: value {text!r} is not valid; expected comma-separated {kind.__name__}s "
                           f"{bounds}")
    return values


def outside_the_tree(where: str, path: Path) -> Path:
    """``path`` (resolved) where it is outside the source tree: a run writes nothing into the repository unless
    asked to (a tracked README, say); else a one-line error naming ``where`` (the flag and its value, or what the
    folder is)."""
    resolved = Path(path).resolve()
    if resolved == REPO or REPO in resolved.parents:
        raise NasedgeError(f"{where}: {resolved} is inside the source tree ({REPO}); a run writes nothing "
                           f"there: give a folder outside it")
    return resolved


def plain_args(doc: str, shape: str, least: int = 1, most: int | None = None) -> list[str]:
    """``sys.argv[1:]`` of a script of plain arguments (no argparse): ``-h``/``--help`` prints ``doc``, exit
    status 0; fewer than ``least`` or more than ``most`` of them is one line naming ``shape`` (e.g.
    ``VARIANT BENCH...``), exit status 2."""
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(doc)
        sys.exit(0)
    if len(args) < least or most is not None and len(args) > most:
        fail(f"expected {shape}, got {len(args)} argument{'s' * (len(args) != 1)}; see --help")
    return args
