"""``nasedge specialize``: the best subnet of a supernet for a device under a latency budget.

>>> manifest = specialize(SpecializeRequest(latency="20ms"), get_device("cpu"), compose(["device=cpu"]))

See :mod:`nasedge.specialize.flow` for the stages and DESIGN.md for the data flow.
"""

from nasedge.specialize.budget import format_latency, parse_latency
from nasedge.specialize.config import SpecializeConfig
from nasedge.specialize.flow import SpecializeRequest, specialize
from nasedge.specialize.verification import Finalist, verify

__all__ = ["Finalist", "SpecializeConfig", "SpecializeRequest", "format_latency", "parse_latency", "specialize",
           "verify"]
