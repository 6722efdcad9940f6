"""Latency budgets as users write them: ``20ms``, ``0.02s``, ``20`` (ms), or several: ``0.9ms,1.3ms,1.8ms``."""

from __future__ import annotations

import math
import re

from nasedge.errors import NasedgeError

# a unit in any case: 20MS is no megaseconds budget, but 20 ms written in capitals
_LATENCY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us|µs)?\s*$", re.IGNORECASE)
_TO_MS = {unit.casefold(): ms for unit, ms in {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3}.items()}


def parse_latency(text: str | float) -> float:
    """A latency budget in milliseconds; a bare number is milliseconds. Raises :class:`NasedgeError`."""
    match = _LATENCY.match(str(text))
    unit = match.group(2) if match else None
    value = float(match.group(1)) * (_TO_MS[unit.casefold()] if unit else 1.0) if match else math.nan
    if not (math.isfinite(value) and value > 0):
        raise NasedgeError(f"latency budget {str(text)!r} is not valid; expected a positive duration such as "
                           f"20ms, 20 ms, 0.02s or 20 (milliseconds)")
    return value


def format_latency(ms: float) -> str:
    """``20.0`` -> ``20ms``, ``2.5`` -> ``2.5ms`` (names output folders)."""
    return f"{ms:g}ms"


def parse_budgets(text: str | float) -> list[float]:
    """One or more comma-separated budgets in milliseconds, ascending, each once. Raises :class:`NasedgeError`."""
    parts = str(text).split(",")
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise NasedgeError(f"latency budgets {str(text)!r} are not valid; expected budgets separated by commas, "
                           f"such as 0.9ms,1.3ms,1.8ms")
    matches = [_LATENCY.match(p) for p in parts]
    units = [m is not None and m.group(2) is not None for m in matches]
    # "1,3ms": a decimal comma, or 1 ms and 3 ms? (a part that is no duration at all is refused below)
    if len(parts) > 1 and all(matches) and any(units) and not all(units):
        decimal = f"write {parts[0].strip()}.{parts[1].strip()} for a decimal number, or " if len(parts) == 2 else ""
        raise NasedgeError(f"latency budgets {str(text)!r} are ambiguous: some have a unit, some not; {decimal}give "
                           f"every budget its unit (such as 0.9ms,1.3ms)")
    return sorted({parse_latency(p) for p in parts})


def default_out_name(device: str, budgets: list[float]) -> str:
    """``cpu-20ms`` for one budget, ``cpu-0.9ms-1.3ms-1.8ms`` for several (the default output folder's name)."""
    return "-".join([device, *(format_latency(b) for b in budgets)])
