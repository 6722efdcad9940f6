"""``example_chain``: a plain chain of inverted-bottleneck stages, described by a list of widths.

The stem and a fixed first block run at the first width; every further width is an elastic stage
that halves the feature map (ReLU, no squeeze-excite); one head width serves the final expand and
the feature mix. Per block the kernel and expand ratio, per stage the depth, per arch the resolution
are chosen, so the chain is laid out like an OFA-MobileNetV3 network: the class is an
:class:`~nasedge.spaces.OFAMobileNetV3Space` with its own YAML format and family name, and the rest of
nasedge (cost, static networks, supernet, encodings) reads its structure from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.spaces import OFAMobileNetV3Space
from nasedge.spaces.ofa_mbv3 import Stage


def _fail(source: str, field: str, value: Any, expected: str) -> None:
    raise NasedgeError(f"{source}: field '{field}': value {value!r} is not valid; expected {expected}")


def _int(data: Mapping[str, Any], key: str, source: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(source, key, value, "a positive integer")
    return value


def _ints(data: Mapping[str, Any], key: str, source: str, odd: bool = False) -> tuple[int, ...]:
    """Distinct positive integers, sorted (``key`` may be a dotted path into ``data``)."""
    value: Any = data
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if (not isinstance(value, list) or not value or len(set(value)) != len(value)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 or (odd and v % 2 == 0) for v in value)):
        _fail(source, key, value, f"a list of distinct positive {'odd ' if odd else ''}integers")
    return tuple(sorted(value))


@dataclasses.dataclass(frozen=True, repr=False)
class ChainSpace(OFAMobileNetV3Space):
    family: str = "example_chain"

    @classmethod
    def from_yaml_dict(cls, data: Mapping[str, Any], source: str) -> ChainSpace:
        if not isinstance(data.get("name"), str):
            _fail(source, "name", data.get("name"), "a string")
        widths = data.get("widths")
        if (not isinstance(widths, list) or len(widths) < 2
                or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)):
            _fail(source, "widths", widths, "a list of at least two positive integers (stem, then one per stage)")
        head = _int(data, "head_width", source, 4 * widths[-1])
        return cls(
            name=data["name"], description=str(data.get("description", "")),
            num_classes=_int(data, "num_classes", source, 10),
            stem_width=widths[0], stem_stride=1, first_block_width=widths[0], first_block_stride=1,
            stages=tuple(Stage(w, 2, "relu", False) for w in widths[1:]),
            final_expand_width=head, feature_mix_width=head,
            kernel_choices=_ints(data, "choices.kernel", source, odd=True),
            expand_choices=_ints(data, "choices.expand", source),
            depth_choices=_ints(data, "choices.depth", source),
            resolutions=_ints(data, "choices.resolution", source),
            dropout=0.0,
        )
