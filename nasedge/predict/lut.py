"""``lut``: per-part latency lookup table measured on the device (as in OFA), linearly calibrated.

A table holds the measured latency of every part an arch can contain (the parts of the space's layer
walk: the stem, the fixed first block, each (stage, first-or-rest block, kernel, expand, input size),
and the head). An arch's table latency is the sum over its parts; a linear calibration on the
target's samples then absorbs what a sum of isolated parts misses (framework overhead, caches,
fusion across blocks).

Tables are :class:`~nasedge.latency_table.LatencyTable` files (format ``nasedge-latency-table/1``),
measured by ``nasedge.measure.measure_lookup_table``; only each entry's median is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.errors import NasedgeError
from nasedge.latency_table import LatencyTable
from nasedge.predict.base import LatencyPredictor, PredictorConfig
from nasedge.predict.calibration import fit_linear
from nasedge.predict.encodings import get_encoding
from nasedge.predict.encodings.ofa import OFAEncoding


class LUTPredictor(LatencyPredictor):
    """Sum of table latencies, calibrated ``a * sum + b`` on the target's samples.

    Option ``table``: a :class:`~nasedge.latency_table.LatencyTable`, its dict, or a table file; its
    medians are saved inline by ``to_dict`` so that a device profile does not depend on the file staying
    where it was.
    """

    name = "lut"
    min_samples = 1

    @dataclass
    class Config(PredictorConfig):
        name: str = "lut"
        table: Optional[str] = None  # latency table file measured on the device (nasedge.measure)

    def __init__(self, space, table: LatencyTable | dict | str | Path | None = None, **options: Any):
        # the space first: a table measured for a space lut cannot read is wasted work
        encoding = get_encoding(space)
        if not isinstance(encoding, OFAEncoding):
            raise NasedgeError(f"predictor 'lut' needs an OFA-family space, not {encoding.name!r}")
        if table is None:
            raise NasedgeError("predictor 'lut' needs a latency table measured on the device "
                               "(--table FILE on the command line, predictor.table=FILE in a configuration)")
        source = str(table) if isinstance(table, (str, Path)) else None
        if isinstance(table, (str, Path)):
            table = LatencyTable.load(table)
        elif isinstance(table, dict):
            table = LatencyTable.from_dict(table)
        measured, table = table, table.medians()  # the sizes it was measured for are in the measured one's meta
        super().__init__(space, table=table.to_dict(), **options)
        where = f"{source}: " if source else ""
        if table.space and table.space != self.encoding.name:
            raise NasedgeError(f"{where}latency table of space {table.space!r} cannot predict space "
                               f"{self.encoding.name!r}")
        self.resolutions = _covered_resolutions(measured, self.encoding.space, where)
        self.table = table

    def table_latency(self, items: list) -> np.ndarray:
        """Sum of the table latencies of each arch's parts (ms), in network order."""
        return np.array([self._arch_latency(a) for a in items])

    def _arch_latency(self, arch) -> float:
        total = 0.0  # a plain running sum (not sum(), which compensates rounding from Python 3.12 on)
        for layer in self.encoding.space.layers(arch):
            total += self.table[layer].median_ms
        return total

    def _fit(self, items: list, latency_ms: np.ndarray) -> None:
        self.slope, self.intercept = fit_linear(self.table_latency(items), latency_ms)

    def _predict(self, items: list) -> np.ndarray:
        return self.slope * self.table_latency(items) + self.intercept

    def _state(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.slope, self.intercept = float(state["slope"]), float(state["intercept"])


def _covered_resolutions(table: LatencyTable, space: Any, where: str) -> tuple[int, ...]:
    """The input sizes at which ``table`` holds every part of ``space``. A size the table was measured for (its
    ``meta.resolutions``, else any size of which it holds a part no other size has) but lacks parts of, a key of no
    part, or no size at all is an error now, not when a search first meets an arch it cannot price. Later blocks
    of different sizes share parts (the same feature-map size), so a size is never judged by shared parts alone."""
    walks = {r: {layer.key for options in space.layer_choices(r) for layer in options} for r in space.resolutions}
    covered = [r for r, keys in walks.items() if keys <= table.entries.keys()]
    listed = table.meta.get("resolutions")
    for r, keys in walks.items():
        if r in covered:
            continue
        own = keys - set().union(*(other for s, other in walks.items() if s != r))
        if (r in listed if isinstance(listed, list) else bool(own & table.entries.keys())):
            missing = sorted(keys - table.entries.keys())
            raise NasedgeError(f"{where}latency table of {table.device or 'a device'}: no entry for part "
                               f"{missing[0]} ({len(missing)} of the {len(keys)} parts at {r} px missing); "
                               f"measure the table again")
    unknown = sorted(table.entries.keys() - set().union(*(walks[r] for r in covered)))
    if unknown:
        raise NasedgeError(f"{where}latency table: {unknown[0]!r} is no part of space {space.name} at the sizes "
                           f"the table holds ({len(unknown)} such keys)")
    if not covered:
        raise NasedgeError(f"{where}latency table holds no part of space {space.name} (at "
                           f"{', '.join(map(str, space.resolutions))} px)")
    return tuple(covered)
