"""What a latency predictor needs to know about the architectures it predicts: an encoding.

An encoding turns architectures into numbers. OFA-family search spaces encode :class:`~nasedge.arch.Arch`
objects; the public latency benchmarks of other spaces (FBNet, NAS-Bench-201) have no ``Arch`` type in
nasedge, so their encodings use their own plain items (tuples of op indices). Predictors only ever see
an encoding, which is what lets the same predictors and the evaluation run on all of them.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from nasedge.errors import NasedgeError


class LatencyEncoding(abc.ABC):
    """Items of one space in, feature matrices out.

    ``family`` names the group of spaces that share feature definitions (and therefore meta-trained
    weights): every OFA-MobileNetV3 space belongs to ``ofa``.
    """

    name: str
    family: str

    @abc.abstractmethod
    def parse(self, record: Mapping[str, Any], source: str | None = None) -> Hashable:
        """One item from a JSON record (a line of a dataset's ``archs.jsonl``, or a canonical arch dict)."""

    @abc.abstractmethod
    def to_record(self, item: Hashable) -> dict[str, Any]:
        """The JSON record of an item (``parse(to_record(x)) == x``)."""

    @abc.abstractmethod
    def check(self, item: Any) -> Hashable:
        """The canonical item, or :class:`~nasedge.errors.NasedgeError` naming what is wrong."""

    @abc.abstractmethod
    def onehot(self, items: Sequence[Hashable]) -> np.ndarray:
        """Structural encoding (choices as one-hot columns), float64."""

    @abc.abstractmethod
    def features(self, items: Sequence[Hashable]) -> np.ndarray:
        """Engineered cost features (columns named by :attr:`feature_names`), float64, all >= 0."""

    @property
    @abc.abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """Names of the :meth:`features` columns; ``macs`` is always among them."""

    def macs(self, items: Sequence[Hashable]) -> np.ndarray:
        """Multiply-accumulates per item (one image)."""
        return self.features(items)[:, self.feature_names.index("macs")]

    def _record(self, record: Any, field: str, fields: tuple[str, ...], expected: str,
                source: str | None) -> Any:
        """``record[field]``, where ``record`` holds ``field`` and otherwise only ``fields``, ``arch_id`` (a
        dataset's) and ``space`` (this one): a key of another space's arch is not silently ignored."""
        where = f"{source}: " if source else ""
        space = record.get("space", self.name) if isinstance(record, Mapping) else self.name
        if space != self.name:  # first: an arch of another space lacks this one's fields too
            raise NasedgeError(f"{where}field 'space': value {space!r} is not valid; expected {self.name!r}")
        if not isinstance(record, Mapping) or field not in record:
            raise NasedgeError(f"{where}field {field!r}: missing; expected {expected}")
        extra = sorted(set(record) - {field, *fields, "arch_id", "space"}, key=str)
        if extra:
            raise NasedgeError(f"{where}field {extra[0]!r}: unknown; an arch of space {self.name!r} has "
                               f"{', '.join((field, *fields))}")
        return record[field]

    def key(self, item: Hashable) -> str:
        """A stable text identity of an item (used to join datasets and to split archs)."""
        import json

        return json.dumps(self.to_record(self.check(item)), sort_keys=True, separators=(",", ":"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def feature_kind(name: str) -> str:
    """The kind of cost a cost feature measures, by its name (compute by kind, memory traffic, counts): devices
    differ in what they pay for, so the per-device models treat each kind apart (``meta``'s prior-free model gives
    each its own variance, ``totals`` one coefficient)."""
    if "macs" in name:
        for part, kind in (("pw_", "pointwise"), ("dw", "depthwise"), ("se_", "squeeze-excite")):
            if part in name:
                return kind
        return "macs"
    if name.endswith("act") or name == "pixels":
        return "activations"
    if name == "params":
        return "params"
    if name == "resolution":  # not a count: the input's side, whose cost the MACs and activations carry
        return "resolution"
    return "counts"  # blocks, layers, ops by type
