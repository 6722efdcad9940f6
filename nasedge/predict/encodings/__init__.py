"""Latency encodings: registries from space families and benchmark spaces to :class:`LatencyEncoding` classes.

Every search space (``nasedge.spaces``) has the encoding of its family over :class:`~nasedge.arch.Arch`
(registered with :func:`register_encoding`); ``fbnet`` and ``nasbench201`` are the benchmark-only spaces
of the public latency data (:func:`register_benchmark`), and ``ofa`` is an alias of ``ofa_mbv3_w1.2``,
the space of the public OFA measurements.
"""

from __future__ import annotations

from nasedge.errors import NasedgeError
from nasedge.predict.encodings.base import LatencyEncoding
from nasedge.predict.encodings.fbnet import FBNetEncoding
from nasedge.predict.encodings.nasbench201 import NASBench201Encoding
from nasedge.predict.encodings.ofa import OFAEncoding
from nasedge.registry import Registry
from nasedge.spaces import SearchSpace, get_space, list_spaces

__all__ = ["LatencyEncoding", "OFAEncoding", "FBNetEncoding", "NASBench201Encoding", "get_encoding",
           "list_encodings", "register_benchmark", "register_encoding"]

# search-space family -> encoding class, constructed with the space
_FAMILIES = Registry("latency encoding", {"ofa_mbv3": "nasedge.predict.encodings.ofa:OFAEncoding",
                                          "ofa_proxyless": "nasedge.predict.encodings.ofa:OFAEncoding"}, sort=False)
# benchmark-only space (no search space, no Arch type) -> encoding class, constructed without arguments
_BENCHMARKS = Registry("benchmark space", {
    "fbnet": "nasedge.predict.encodings.fbnet:FBNetEncoding",
    "nasbench201": "nasedge.predict.encodings.nasbench201:NASBench201Encoding",
}, sort=False)
_ALIASES = {"ofa": "ofa_mbv3_w1.2"}


def register_encoding(family: str, target: str | type[LatencyEncoding], *, requires: tuple[str, ...] = (),
                      install_hint: str = "") -> None:
    """Make ``target`` (a class taking the space, or its ``"package.module:Class"``) the latency encoding
    of every search space of ``family``."""
    _FAMILIES.register(family, target, requires=requires, install_hint=install_hint)


def register_benchmark(name: str, target: str | type[LatencyEncoding], *, requires: tuple[str, ...] = (),
                       install_hint: str = "") -> None:
    """Add a benchmark-only space ``name`` whose encoding is ``target`` (constructed without arguments)."""
    _BENCHMARKS.register(name, target, requires=requires, install_hint=install_hint)


def list_encodings() -> list[str]:
    """Names accepted by :func:`get_encoding` (search spaces, benchmark-only spaces, aliases)."""
    return sorted({*list_spaces(), *_BENCHMARKS.names(), *_ALIASES})


def get_encoding(space: SearchSpace | LatencyEncoding | str) -> LatencyEncoding:
    """The encoding of a search space (object or name), a benchmark-only space name, or an encoding."""
    if isinstance(space, LatencyEncoding):
        return space
    if isinstance(space, str):
        if space in _BENCHMARKS:
            return _BENCHMARKS.load(space)()
        try:
            space = get_space(_ALIASES.get(space, space))
        except NasedgeError:
            raise NasedgeError(f"unknown space {space!r}; known: {', '.join(list_encodings())}") from None
    family = getattr(space, "family", None)
    if not isinstance(family, str) or family not in _FAMILIES:
        raise NasedgeError(f"no latency encoding for space {getattr(space, 'name', space)!r} "
                           f"(family {getattr(space, 'family', '?')!r})")
    return _FAMILIES.load(family)(space)
