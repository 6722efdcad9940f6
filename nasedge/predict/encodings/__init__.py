"""Latency encodings: a registry from space names to :class:`LatencyEncoding` objects.

Every OFA-family search space (``nasedge.spaces``) has an encoding over :class:`~nasedge.arch.Arch`;
``fbnet`` and ``nasbench201`` are the benchmark-only spaces of the public latency data, and ``ofa`` is
an alias of ``ofa_mbv3_w1.2``, the space of the public OFA measurements.
"""

from __future__ import annotations

from nasedge.errors import NasedgeError
from nasedge.predict.encodings.base import LatencyEncoding
from nasedge.predict.encodings.fbnet import FBNetEncoding
from nasedge.predict.encodings.nasbench201 import NASBench201Encoding
from nasedge.predict.encodings.ofa import OFAEncoding
from nasedge.spaces import SearchSpace, get_space, list_spaces
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

__all__ = ["LatencyEncoding", "OFAEncoding", "FBNetEncoding", "NASBench201Encoding", "get_encoding",
           "list_encodings"]

_BENCHMARK = {"fbnet": FBNetEncoding, "nasbench201": NASBench201Encoding}
_ALIASES = {"ofa": "ofa_mbv3_w1.2"}


def list_encodings() -> list[str]:
    """Names accepted by :func:`get_encoding` (search spaces, benchmark-only spaces, aliases)."""
    return sorted({*list_spaces(), *_BENCHMARK, *_ALIASES})


def get_encoding(space: SearchSpace | LatencyEncoding | str) -> LatencyEncoding:
    """The encoding of a search space (object or name), a benchmark-only space name, or an encoding."""
    if isinstance(space, LatencyEncoding):
        return space
    if isinstance(space, str):
        if space in _BENCHMARK:
            return _BENCHMARK[space]()
        try:
            space = get_space(_ALIASES.get(space, space))
        except NasedgeError:
            raise NasedgeError(f"unknown space {space!r}; known: {', '.join(list_encodings())}") from None
    if isinstance(space, OFAMobileNetV3Space):
        return OFAEncoding(space)
    raise NasedgeError(f"no latency encoding for space {getattr(space, 'name', space)!r} "
                       f"(family {getattr(space, 'family', '?')!r})")
