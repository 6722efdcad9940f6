"""Names of a package imported on first use (PEP 562), for packages whose modules import torch (1-2 s).

>>> __getattr__, __dir__ = lazy_names(__name__, {"load_dataset": "nasedge.data.loading"}, globals(), __all__)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_names(package: str, sources: Mapping[str, str], namespace: Mapping[str, Any],
               public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each name of ``sources`` is imported from its module
    (``name -> module``) when first asked for; ``namespace`` is the package's ``globals()``."""
    def __getattr__(name: str) -> Any:
        if name in sources:
            return getattr(importlib.import_module(sources[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
