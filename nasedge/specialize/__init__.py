"""``nasedge specialize``: the best subnet of a supernet for a device under a latency budget.

>>> manifest = specialize(SpecializeRequest(device="cpu", latency="20ms"))

See :mod:`nasedge.specialize.flow` for the stages and DESIGN.md for the data flow.
"""

from nasedge.specialize.budget import format_latency, parse_latency
from nasedge.specialize.flow import SpecializeConfig, SpecializeRequest, specialize

__all__ = ["SpecializeConfig", "SpecializeRequest", "format_latency", "parse_latency", "specialize"]
