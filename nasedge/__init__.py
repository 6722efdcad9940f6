"""nasedge: hardware-aware neural architecture search for edge devices.

The public surface is small and import-light (torch is loaded only by the parts that need it):

- :class:`nasedge.arch.Arch` — the architecture type passed between all parts
- :mod:`nasedge.spaces` — search spaces (``get_space``, ``list_spaces``)
- :mod:`nasedge.supernet` — once-for-all supernets (``build_supernet``, ``load_supernet``)
- :mod:`nasedge.cost` — analytic parameter and MAC counts
"""

__version__ = "0.1.0"

from nasedge.arch import Arch  # noqa: E402  (no heavy imports)
from nasedge.errors import ArchError, NasedgeError  # noqa: E402

__all__ = ["Arch", "ArchError", "NasedgeError", "__version__"]
