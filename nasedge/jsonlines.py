"""Reading JSON-lines files, with errors that name the file and the line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError


class KeyGivenTwice(Exception):
    """A JSON object with a key given twice, which :func:`json.loads` would take the last of silently; its text is the
    sentence that says so, for the caller to prefix with where it was read."""


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise KeyGivenTwice(f"field {key!r} is given twice; give it once")
        out[key] = value
    return out


def loads_once_each(text: str) -> Any:
    """:func:`json.loads`, raising :class:`KeyGivenTwice` for an object with a key given twice: which of the two the
    user meant is not known."""
    return json.loads(text, object_pairs_hook=_once_each)


def read_json_lines(path: str | Path, missing: str = "no such file",
                    unreadable: str = "not a JSON-lines file") -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for every non-blank line, ``where`` being ``"<path>:<line>"``.

    A missing file gives ``"<path>: <missing>"``, a directory or undecodable file ``"<path>: <unreadable>"``,
    a line that is not JSON ``"<path>:<line>: invalid JSON at column <c>: <reason>"``, an object with a key given twice
    ``"<path>:<line>: field '<key>' is given twice; give it once"``.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows editors) is no JSON
    except FileNotFoundError:
        raise NasedgeError(f"{path}: {missing}") from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: {unreadable}") from None
    except OSError as exc:  # permissions, a device that fails
        raise NasedgeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            value = loads_once_each(line)
        except KeyGivenTwice as exc:
            raise NasedgeError(f"{where}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{where}: invalid JSON at column {exc.colno}: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # valid JSON past Python's limits
            raise NasedgeError(f"{where}: {unreadable} ({past_limits(exc)})") from None
        yield where, value


def past_limits(exc: Exception) -> str:
    """What a JSON text that parses only past Python's limits holds, in a few words."""
    return "lists nested too deeply" if isinstance(exc, RecursionError) else "a number too long to read"


def json_lines_text(docs: Iterable[Any]) -> str:
    """``docs`` as JSON lines (compact, one per line, each ending in a newline)."""
    return "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs)


def read_appended_json_lines(path: str | Path, what: str, in_flight: str,
                             warn: Callable[[str], None] | None = None,
                             check: Callable[[int, Any], None] | None = None, repair: bool = True) -> list[Any]:
    """The values of a file that a run appends JSON lines to (one write and fsync per batch), ``[]`` when missing.

    ``check(lineno, value)`` refuses (raises) a value that is not a line of ``what``; every value is checked before
    the file is touched, so a file of another kind is refused as it is, never repaired. A last line cut short by a
    kill (no newline after it) is then dropped from the file, and ``warn`` (by default a line on stderr) says so
    (``"<path>: dropped a last line cut short (<in_flight> when the run stopped)"``); one that is whole JSON and
    passes the check lost only its newline, which is put back. Another line that is not JSON is an error naming the file, the line and ``what``
    the file is. So is a file of that one unfinished line unless it starts as a JSON object does: a note or a file
    of some other kind, which is never to be emptied. ``repair=False``: the file is only read and checked, left as it
    is, a last line cut short left out without a word (a check before the work; the run that appends repairs it).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (IsADirectoryError, UnicodeDecodeError):
        raise NasedgeError(f"{path}: not a {what} (JSON lines)") from None
    lines = text.split("\n")
    torn = lines.pop() if lines else ""  # what follows the last newline: "" unless a write was cut short
    docs = []
    for lineno, line in enumerate(lines, start=1):
        try:
            docs.append(json.loads(line))
        except (ValueError, RecursionError):  # not JSON, or JSON past Python's limits
            raise NasedgeError(f"{path}:{lineno}: not a JSON line of a {what}") from None
    whole = False
    if torn:
        try:
            docs.append(json.loads(torn))
            whole = True
        except (ValueError, RecursionError):
            pass
    if check is not None:
        for lineno, doc in enumerate(docs, start=1):
            check(lineno, doc)
    if torn and not whole and not docs and not torn.lstrip().startswith("{"):
        raise NasedgeError(f"{path}:1: not a JSON line of a {what}; use another file") from None
    if torn and repair:
        if not whole:
            message = f"{path}: dropped a last line cut short ({in_flight} when the run stopped)"
            if warn is None:
                print(f"nasedge: warning: {message}", file=sys.stderr)
            else:
                warn(message)
        atomic_write_text(path, json_lines_text(docs))
    return docs


@contextmanager
def appending_json_lines(path: str | Path) -> Iterator[Callable[[Any], None]]:
    """``append(doc)``: one JSON line at the end of ``path`` per call, durable when it returns (flushed and
    fsynced: a crash loses at most the line being written). The file is opened with the first line, so a run that
    fails before it leaves no empty file."""
    f = None

    def append(doc: Any) -> None:
        nonlocal f
        f = f or open(path, "a")
        f.write(json.dumps(doc) + "\n")
        f.flush()
        os.fsync(f.fileno())

    try:
        yield append
    finally:
        if f is not None:
            f.close()
