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
