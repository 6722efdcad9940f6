"""Search spaces: a registry of space families and the declarative spaces in ``search_spaces/*.yaml``.

A YAML file names its ``family``; the family's class (registered with :func:`register_family`)
parses the rest. Adding a space of an existing family is one YAML file; adding a family is one
module with a :class:`SearchSpace` subclass and one YAML file.

>>> space = get_space("ofa_mbv3_w1.2")
>>> arch = space.sample(0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import yaml

from nasedge.errors import NasedgeError
from nasedge.resources import shipped_path
from nasedge.spaces.base import SearchSpace, as_rng
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

__all__ = ["SearchSpace", "OFAMobileNetV3Space", "as_rng", "get_space", "list_spaces", "load_space",
           "register_family"]

_FAMILIES: dict[str, Callable[[dict, str], SearchSpace]] = {"ofa_mbv3": OFAMobileNetV3Space.from_yaml_dict}


def register_family(name: str, parser: Callable[[dict, str], SearchSpace]) -> None:
    """Make ``family: <name>`` in a space YAML parse with ``parser(data, source)``."""
    if name in _FAMILIES:
        raise ValueError(f"search-space family {name!r} is already registered")
    _FAMILIES[name] = parser


def list_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    return sorted(p.stem for p in shipped_path("search_spaces").glob("*.yaml"))


def load_space(path: str | Path) -> SearchSpace:
    """Parse a search-space YAML file (a shipped one or a user's own)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise NasedgeError(f"{path}: no such search-space file") from None
    except yaml.YAMLError as exc:
        raise NasedgeError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise NasedgeError(f"{path}: expected a mapping with a 'family' field")
    family = data.get("family")
    if family not in _FAMILIES:
        raise NasedgeError(f"{path}: field 'family': value {family!r} is not valid; known: {', '.join(_FAMILIES)}")
    space = _FAMILIES[family](data, str(path))
    if path.suffix == ".yaml" and path.parent == shipped_path("search_spaces") and space.name != path.stem:
        raise NasedgeError(f"{path}: field 'name': value {space.name!r} must match the file name {path.stem!r}")
    return space


@functools.lru_cache(maxsize=None)
def get_space(name: str) -> SearchSpace:
    """A shipped space by name, or a space YAML by path."""
    if name.endswith((".yaml", ".yml")):
        return load_space(name)
    path = shipped_path("search_spaces") / f"{name}.yaml"
    if not path.is_file():
        raise NasedgeError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}")
    return load_space(path)
