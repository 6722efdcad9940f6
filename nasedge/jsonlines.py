"""Reading JSON-lines files, with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasedge.errors import NasedgeError


def read_json_lines(path: str | Path, missing: str = "no such file",
                    unreadable: str = "not a JSON-lines file") -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for every non-blank line, ``where`` being ``"<path>:<line>"``.

    A missing file gives ``"<path>: <missing>"``, a directory or undecodable file ``"<path>: <unreadable>"``,
    a line that is not JSON ``"<path>:<line>: invalid JSON at column <c>: <reason>"``.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise NasedgeError(f"{path}: {missing}") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: {unreadable}") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{where}: invalid JSON at column {exc.colno}: {exc.msg}") from None
