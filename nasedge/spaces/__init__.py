"""Search spaces: a registry of space families and the declarative spaces in ``search_spaces/*.yaml``.

A YAML file names its ``family``; the family's class (registered with :func:`register_family`)
parses the rest with its ``from_yaml_dict``. Adding a space of an existing family is one YAML file;
adding a family is one module with a :class:`SearchSpace` subclass and one YAML file (in nasedge,
or in a plugin package's ``search_spaces/`` folder, see :mod:`nasedge.registry`).

>>> space = get_space("ofa_mbv3_w1.2")
>>> arch = space.sample(0)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import yaml

from nasedge.errors import NasedgeError, read_text_file, returned, shown, unknown_name, yaml_error
from nasedge.registry import Registry, class_problem, first_of_each_name, plugin_dirs
from nasedge.resources import shipped_path
from nasedge.spaces.base import SearchSpace, as_rng
from nasedge.spaces.ofa_mbv3 import OFAMobileNetV3Space

__all__ = ["SearchSpace", "OFAMobileNetV3Space", "as_rng", "get_space", "installed_shape", "list_spaces",
           "load_space", "register_family", "unknown_space"]


def _family_problem(obj: object) -> str | None:
    """A family is a SearchSpace class (every abstract method implemented) or a plain parser function."""
    if isinstance(obj, type):
        return class_problem(obj, SearchSpace)
    return None if callable(obj) else f"{obj!r} is neither a SearchSpace subclass nor a parser function"


_FAMILIES = Registry("search-space family", {"ofa_mbv3": "nasedge.spaces.ofa_mbv3:OFAMobileNetV3Space",
                                             "ofa_proxyless": "nasedge.spaces.ofa_proxyless:OFAProxylessSpace"},
                     sort=False, check=_family_problem)


def register_family(name: str, target: str | type[SearchSpace] | Callable[[dict, str], SearchSpace], *,
                    requires: tuple[str, ...] = (), install_hint: str = "") -> None:
    """Make ``family: <name>`` in a space YAML parse with the class ``target`` (``"package.module:Class"``,
    imported when a space of the family is loaded), through its ``from_yaml_dict(data, source)``, or with
    ``target(data, source)`` when it is a plain parser."""
    _FAMILIES.register(name, target, requires=requires, install_hint=install_hint)


def _space_dirs() -> list[Path]:
    """Where spaces are found: the shipped folder first, then those of plugin packages."""
    return [shipped_path("search_spaces"), *plugin_dirs("search_spaces")]


def _space_files() -> dict[str, Path]:
    shipped, *plugins = _space_dirs()
    files = [("shipped", p) for p in sorted(shipped.glob("*.yaml"))]
    files += [("plugin", p) for folder in plugins for p in sorted(folder.glob("*.yaml"))]
    found = first_of_each_name("search space", files, "; rename the file and its 'name' field")
    return {name: path for name, (_, path) in found.items()}


def list_spaces() -> list[str]:
    """Names of the shipped search spaces (and those of plugins)."""
    return sorted(_space_files())


def load_space(path: str | Path) -> SearchSpace:
    """Parse a search-space YAML file (a shipped one or a user's own)."""
    path = Path(path)
    text = read_text_file(path, "a search-space YAML file", missing="no such search-space file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    if not isinstance(data, dict):
        raise NasedgeError(f"{path}: expected a mapping with a 'family' field")
    family = data.get("family")
    if not isinstance(family, str) or family not in _FAMILIES:
        known = ", ".join(_FAMILIES.names())
        raise NasedgeError(f"{path}: field 'family': value {family!r} is not valid; known: {known}")
    target = _FAMILIES.load(family)
    space = getattr(target, "from_yaml_dict", target)(data, str(path))
    if not isinstance(space, SearchSpace):  # a plugin's parser: its result fails far from here otherwise
        raise returned(f"{path}: search-space family {family!r} ({_FAMILIES.entry(family).describe()})", shown(space),
                       "a SearchSpace")
    if path.suffix == ".yaml" and path.parent in _space_dirs() and space.name != path.stem:
        raise NasedgeError(f"{path}: field 'name': value {space.name!r} must match the file name {path.stem!r}")
    return space


@functools.lru_cache(maxsize=None)
def get_space(name: str | os.PathLike) -> SearchSpace:
    """A shipped space by name, or a space YAML by path."""
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(name, str):
        raise NasedgeError(f"search space {name!r} is not valid; expected a name or a YAML file's path")
    if name.endswith((".yaml", ".yml")):
        return load_space(name)
    path = _space_files().get(name)
    if path is None:
        raise unknown_space(name)
    return load_space(path)


def unknown_space(name: str, known: list[str] | tuple[str, ...] | None = None) -> NasedgeError:
    """The error of ``name`` that is no installed space (``--space``, ``search_space=``, an arch's ``space``;
    ``known``: the names to list, default the installed spaces)."""
    return unknown_name("search space", name, list_spaces() if known is None else known)


def installed_shape(name: str, source: str | None = None) -> tuple[int, int] | None:
    """``shape_of`` of :meth:`~nasedge.arch.Arch.from_dict` for archs of installed spaces: the shape of the space
    ``name``, or :func:`get_space`'s error of an unknown one, naming ``source``."""
    try:
        space = get_space(name)
    except NasedgeError as exc:
        raise NasedgeError(f"{source}: {exc}" if source else str(exc)) from None
    return space.arch_shape
