"""The one exception type that reaches users as a one-line message (exit code 2 in the CLI), and "did you mean"."""

from __future__ import annotations

import math
import os
import numbers
from typing import Any


class NasedgeError(Exception):
    """A problem with the user's input or environment, with a message that names it.

    The CLI prints ``nasedge: error: <message>`` and exits with status 2; library callers
    catch it like any other exception. Programming errors are never wrapped in it.
    """


ROOT = "<root>"  # the field of an ArchError about the whole value


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, `timeout`), raised where the program runs by the CLI's handler: cleanup runs as
    for Ctrl-C (locks released, staging folders and half-made files removed) instead of the process vanishing
    mid-write. A KeyboardInterrupt, so that what stops at Ctrl-C stops at it too (Ray's wait gives up only for
    one); the CLI tells the two apart."""


def terminated_inside(exc: BaseException) -> bool:
    """Whether ``exc`` is :class:`Terminated` or arose from one (compiled code, such as Ray's ``wait``, that a
    signal handler's exception interrupts may raise ``SystemError`` with it as the context)."""
    return _arose_from(exc, Terminated)


def interrupted_inside(exc: BaseException) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt (Ctrl-C, or :class:`Terminated`) or arose from one (a compiled module
    that Ctrl-C interrupts while it is imported raises ``ImportError: initialization failed`` with it as the
    cause)."""
    return _arose_from(exc, KeyboardInterrupt)


def _arose_from(exc: BaseException | None, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def shortened(text: str, limit: int = 120) -> str:
    """``text``, cut to ``limit`` characters with ``...`` where longer (a value quoted in a one-line message)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown(value: Any) -> str:
    """A value as an error says what came back: ``None``, ``a str ('1.5ms')``, ``a dict``."""
    return "None" if value is None else f"a {type(value).__name__} ({shortened(repr(value), 40)})"


def returned(who: str, got: str, expected: str, verb: str = "returned") -> NasedgeError:
    """The one line for code (a plugin's, typically) that gave back the wrong thing: ``<who> returned <got>;
    expected <expected>``, ``who`` naming the plugin's item and its class (``latency predictor 'x' (XPredictor)``),
    ``got`` what it returned (:func:`shown`, or a count)."""
    return NasedgeError(f"{who} {verb} {got}; expected {expected}")


class ArchError(NasedgeError, ValueError):
    """An architecture that is malformed or outside its search space.

    ``field`` is the path of the offending field (``kernel[3]``, ``depth``, ``resolution``),
    ``value`` what was given, ``allowed`` what would have been accepted.
    """

    def __init__(self, field: str, value: object, allowed: object, source: str | None = None):
        self.field, self.value, self.allowed, self.source = field, value, allowed, source
        where = f"{source}: " if source else ""
        if field == ROOT:  # the whole value is not an arch: say what it is, not a field of it
            super().__init__(f"{where}value {shortened(repr(value), 60)} is not an arch; expected {allowed}")
        elif value is None and "required" in str(allowed):
            super().__init__(f"{where}field '{field}': missing; expected {allowed}")
        else:
            super().__init__(f"{where}field '{field}': value {value!r} is not allowed; expected {allowed}")


def unknown_name(kind: str, name: str, known: "list[str] | tuple[str, ...]", last_part: bool = False) -> NasedgeError:
    """``unknown <kind> 'name'; did you mean 'x'? known: a, b, c`` (the suggestion only when one is close).

    ``last_part``: compare only what follows the last dot (dotted keys share their prefix)."""
    import difflib

    def part(text: str) -> str:  # "CPU" is as close to "cpu" as "cpu" is
        return (text.rpartition(".")[2] if last_part else text).lower()

    by_part = {part(str(k)): str(k) for k in known}
    close = difflib.get_close_matches(part(str(name)), list(by_part), n=1, cutoff=0.6)
    hint = f"; did you mean {by_part[close[0]]!r}?" if close else ";"
    return NasedgeError(f"unknown {kind} {name!r}{hint} known: {', '.join(str(k) for k in known) or '(none)'}")


MAX_SEED = 2**32 - 1  # numpy's legacy generators (optuna's samplers use them) take no larger seed


def is_integer(value: Any) -> bool:
    """An integer, numpy's included, and not a bool (``true`` in a file is a mistake, not a 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (int, float, numpy's, a Fraction), not a bool; NaN and infinity count (the caller bounds it)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_real(value: Any) -> bool:
    """A real number (:func:`is_real`) that is neither NaN nor infinite: what a setting or a measured figure is."""
    return is_real(value) and math.isfinite(value)


def check_seed(name: str, value: Any) -> None:
    """A seed is an integer from 0 to :data:`MAX_SEED` (numpy's generators take no other): ``seed=``, every
    ``--seed`` (before any work) and a search's seed."""
    try:
        ok = 0 <= int(str(value)) <= MAX_SEED
    except ValueError:
        ok = False
    if not ok:
        raise NasedgeError(f"{name}: value {value!r} is not valid; expected an integer from 0 to {MAX_SEED} "
                           f"(2**32 - 1)")


def unreadable(exc: OSError | UnicodeDecodeError, path: os.PathLike | str, expected: str,
               missing: str = "no such file") -> NasedgeError:
    """The one-line error for a text file that could not be read: missing, a folder, bytes that are not UTF-8, or
    the system refusing (permissions, a failing disk). ``expected``: what the file should be, e.g. "a device YAML
    file"."""
    if isinstance(exc, FileNotFoundError):
        return NasedgeError(f"{path}: {missing}")
    if isinstance(exc, IsADirectoryError):
        return NasedgeError(f"{path}: is a folder, expected {expected}")
    if isinstance(exc, UnicodeDecodeError):
        return NasedgeError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                            f"expected {expected}, saved as UTF-8")
    return NasedgeError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})")


def read_text_file(path: os.PathLike | str, expected: str, missing: str = "no such file",
                   encoding: str = "utf-8") -> str:
    """The text of ``path``, or :func:`unreadable`'s error (``utf-8-sig`` where a BOM from an editor is to be
    skipped)."""
    try:
        with open(path, encoding=encoding) as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(exc, path, expected, missing) from None


def yaml_error(exc: Exception, path: os.PathLike | str | None = None) -> NasedgeError:
    """``<file>: invalid YAML at line L, column C: <problem>`` for a YAML parse error (``path``: the file read,
    else the one the error names)."""
    mark = getattr(exc, "problem_mark", None)
    if path is None:
        name = getattr(mark, "name", None)
        path = name if name and not name.startswith("<") else "a configuration file"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [""])[0]
    context = getattr(exc, "context", None)
    return NasedgeError(f"{path}: invalid YAML{where}: {problem}{f' ({context})' if context else ''}")
