"""Where the files nasedge ships with live: search space definitions, Hydra configs, latency data,
predictor weights and the embedded supernet.

In a wheel they are installed under ``nasedge/_shipped/``; in a source checkout (editable install)
they are the top-level folders of the repository. Both layouts resolve through :func:`shipped_path`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_TOP_LEVEL = ("search_spaces", "conf", "latency_predictors")


def shipped_path(name: str) -> Path:
    """Return the directory of a shipped top-level folder (``search_spaces``, ``conf``, ``latency_predictors``)."""
    if name not in _TOP_LEVEL:
        raise KeyError(f"unknown shipped folder {name!r}; known: {', '.join(_TOP_LEVEL)}")
    installed = _PACKAGE_DIR / "_shipped" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"shipped folder {name!r} not found under {installed} or {checkout}")


def assets_path() -> Path:
    """Directory of binary assets that live inside the package (embedded supernet, accuracy predictor)."""
    return _PACKAGE_DIR / "assets"
