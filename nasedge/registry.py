"""Registries of plugins: one lazy table per kind (strategies, predictors, runtimes, space families, ...).

A :class:`Registry` maps a name to a target, ``"package.module:attr"`` (imported only when the name
is asked for) or the object itself, with the Python modules the target needs and a hint on how to
install them. Asking for an unknown name raises :class:`NasedgeError` listing the known ones; a
missing requirement raises one line saying what to install.

Packages outside nasedge add entries through the entry-point group ``nasedge.plugins``. Each entry
point names a callable (called without arguments) or a module (imported) that registers its plugins
with the ``register_*`` functions of the nasedge packages, e.g. in the plugin's ``pyproject.toml``::

    [project.entry-points."nasedge.plugins"]
    example = "nasedge_example_plugin:register"

Plugins are loaded once per process, the first time a registry is listed or asked for a name it does
not hold. A plugin package's ``conf/`` folder joins the Hydra search path and its ``search_spaces/``
folder the shipped spaces (:func:`plugin_dirs`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import threading
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasedge.errors import NasedgeError, unknown_name

__all__ = ["ENTRY_POINT_GROUP", "Entry", "Registry", "class_problem", "first_of_each_name", "ignored_file",
           "load_plugins", "plugin_dirs", "plugin_errors", "plugin_failure", "plugin_warnings", "reset_plugins",
           "warn_once"]

ENTRY_POINT_GROUP = "nasedge.plugins"


@dataclass(frozen=True)
class Entry:
    """One registered name: what it points to and what it needs."""

    name: str
    target: Any  # "package.module:attr", or the object itself
    requires: tuple[str, ...] = ()  # Python modules the target imports
    install_hint: str = ""  # appended to the missing-module message, e.g. " (pip install nasedge[tflite])"
    plugin: str | None = None  # the entry point that registered it; None for nasedge's own

    def missing(self) -> str | None:
        """The first required module that cannot be imported here, or ``None``."""
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a dotted name whose parent package is missing
                found = False
            if not found:
                return module
        return None

    def target_name(self) -> str:
        """The target as a message names it: ``"module:Class"``, or the object's qualified name."""
        return self.target if isinstance(self.target, str) else getattr(self.target, "__qualname__", repr(self.target))

    def describe(self) -> str:
        """How a message names the entry's origin: its target and the plugin that registered it."""
        return f"{self.target_name()}, registered by plugin {self.plugin!r}" if self.plugin else self.target_name()


class Registry:
    """Name -> :class:`Entry` for one kind of plugin, e.g. ``Registry("search strategy")``.

    ``sort``: list names alphabetically (else builtins in the order given, then plugins as registered).
    ``check``: what is wrong with a loaded target for this kind (e.g. :func:`class_problem`), or ``None``; run on
    every :meth:`load`, so that a plugin's class that cannot work is refused when it is first resolved, before any
    work that would use it.
    """

    def __init__(self, kind: str, entries: Mapping[str, str] | None = None, *, sort: bool = True,
                 check: Callable[[Any], str | None] | None = None):
        self.kind, self.sort, self.check = kind, sort, check
        # nasedge's own entries, even when a plugin being loaded is what imports this registry's package
        self._entries: dict[str, Entry] = {name: Entry(name, target) for name, target in (entries or {}).items()}
        self._builtin = frozenset(self._entries)  # a failure to import one of these is a bug of nasedge: raised as is
        _REGISTRIES.add(self)

    def register(self, name: str, target: Any, *, requires: tuple[str, ...] | list[str] = (),
                 install_hint: str = "") -> None:
        """Add ``name``; a name registered twice is a programming error (``ValueError``)."""
        if name in self._entries:
            holder = self._entries[name]
            by = f"plugin {holder.plugin!r}" if holder.plugin else "nasedge"
            raise ValueError(f"{self.kind} {name!r} is already registered (by {by}: {holder.target_name()})")
        self._entries[name] = Entry(name, target, tuple(requires), install_hint, _loading.plugin)

    def names(self) -> list[str]:
        """Every registered name, plugins included."""
        load_plugins()
        return sorted(self._entries) if self.sort else list(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            load_plugins()
        return name in self._entries

    def entry(self, name: str) -> Entry:
        """The entry of ``name``; unknown names raise :class:`NasedgeError` listing the known ones."""
        if name not in self:
            error = unknown_name(self.kind, name, self.names())
            failed = plugin_errors()  # the name may be one a broken plugin would have registered
            raise NasedgeError(f"{error} ({'; '.join(failed)})") if failed else error
        return self._entries[name]

    def load(self, name: str) -> Any:
        """The object registered as ``name``, imported now if it was registered by its import path.

        A missing requirement is one :class:`NasedgeError` saying what to install. An entry added with
        :meth:`register` (a plugin's) whose target cannot be imported, or lacks the attribute named, is one
        :class:`NasedgeError` naming the entry, its target and the reason (the exception is its ``__cause__``);
        only that name fails, the others stay usable. The same failure of one of nasedge's own entries is a
        bug of nasedge and is raised as it is. A target the registry's ``check`` refuses (a plugin's class that is
        not of the kind, or leaves an abstract method out) is one :class:`NasedgeError` naming the entry and what
        is wrong, also kept for :func:`plugin_warnings`.
        """
        entry = self.entry(name)
        missing = entry.missing()
        if missing is not None:
            raise NasedgeError(f"{self.kind} {name} needs the Python module {missing!r}{entry.install_hint}")
        obj = entry.target if not isinstance(entry.target, str) else self._import(entry)
        problem = self.check(obj) if self.check is not None else None
        if problem is not None:
            error = f"{self.kind} {name!r} ({entry.describe()}) is not valid: {problem}"
            if entry.plugin is not None:  # said by every command that loads it (register_configs loads them all)
                warn_once(error)
            raise NasedgeError(error)
        return obj

    def _import(self, entry: Entry) -> Any:
        """The object ``entry.target`` (``"module:attr"``) names, imported; see :meth:`load` for the errors."""
        name = entry.name
        module, _, attr = entry.target.partition(":")
        try:
            obj = importlib.import_module(module)
            return getattr(obj, attr) if attr else obj
        except ModuleNotFoundError as exc:
            if exc.name is not None and module != exc.name and not module.startswith(exc.name + "."):
                raise NasedgeError(f"{self.kind} {name} needs the Python module {exc.name!r}"
                                   f"{entry.install_hint}") from None
            if name in self._builtin:
                raise  # nasedge's own target is missing: a wrong registration, a bug to show in full
            raise self._cannot_load(entry, exc) from exc
        except Exception as exc:  # a plugin's module can fail in any way when imported; the user needs its name
            if name in self._builtin:
                raise
            raise self._cannot_load(entry, exc) from exc

    def _cannot_load(self, entry: Entry, exc: Exception) -> NasedgeError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return NasedgeError(f"{self.kind} {entry.name!r} ({entry.describe()}) cannot be loaded: "
                            f"{type(exc).__name__}{': ' + first if first else ''}")

    def copy(self) -> Registry:
        """An independent registry with the same entries (for tests that register temporary plugins)."""
        other = Registry(self.kind, sort=self.sort, check=self.check)
        other._entries, other._builtin = dict(self._entries), self._builtin
        return other

    def _forget_plugins(self, plugin: str | None = None) -> None:
        """Drop the entries of ``plugin`` (default: of every plugin)."""
        self._entries = {k: e for k, e in self._entries.items()
                         if e.plugin is None or (plugin is not None and e.plugin != plugin)}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def class_problem(obj: Any, base: type, config: tuple[str, type] | None = None) -> str | None:
    """What keeps ``obj`` from being a usable ``base`` class, in a few words, or ``None``: not a subclass of
    ``base``, an abstract method left unimplemented (instantiating it would fail only after the work that leads
    there), or, with ``config=(attr, schema)``, its ``attr`` (``Config``) not a dataclass subclass of ``schema``."""
    import dataclasses

    name = getattr(obj, "__qualname__", type(obj).__name__)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return f"{name} is not a {base.__name__} subclass"
    if inspect.isabstract(obj):
        missing = sorted(getattr(obj, "__abstractmethods__", ()))
        return (f"{name} does not implement the abstract method{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} of {base.__name__}")
    if config is not None:
        attr, schema = config
        value = getattr(obj, attr, None)
        if not (isinstance(value, type) and issubclass(value, schema) and dataclasses.is_dataclass(value)):
            shown = getattr(value, "__qualname__", repr(value))
            return f"{name}.{attr} is {shown}; expected a dataclass subclass of {schema.__name__}"
    return None


# --- plugins through entry points --------------------------------------------------------------
@dataclass
class _PluginState:
    loaded: bool = False
    errors: list[str] = field(default_factory=list)  # one line per plugin that failed to load (the others load)
    warnings: list[str] = field(default_factory=list)  # a plugin's name or file left out, once each
    plugins: list[importlib.metadata.EntryPoint] = field(default_factory=list)


class _Loading(threading.local):
    plugin: str | None = None  # the entry point being loaded in this thread


_REGISTRIES: weakref.WeakSet[Registry] = weakref.WeakSet()
_STATE = _PluginState()
_LOCK = threading.RLock()
_loading = _Loading()


@contextlib.contextmanager
def _registering_as(plugin: str) -> Iterator[None]:
    _loading.plugin = plugin
    try:
        yield
    finally:
        _loading.plugin = None


def load_plugins() -> None:
    """Load every ``nasedge.plugins`` entry point once. A broken one registers nothing and is left out, a line
    naming it kept in :func:`plugin_errors` (and in the error of a name it does not provide): one broken plugin
    must not stop the others, nor the commands that need none of it."""
    with _LOCK:
        if not _STATE.loaded:
            _STATE.loaded = True  # set first: a plugin that lists a registry while registering must not recurse
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    with _registering_as(ep.name):
                        obj = ep.load()
                        if callable(obj):
                            obj()
                except Exception as exc:  # a plugin can fail in any way; the user needs its name, not a traceback
                    for registry in list(_REGISTRIES):  # no half-registered plugin
                        registry._forget_plugins(ep.name)
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    _STATE.errors.append(f"plugin {ep.name!r} ({ep.value}, entry point group {ENTRY_POINT_GROUP}) "
                                         f"failed to load: {type(exc).__name__}{': ' + first if first else ''}")
                    continue
                _STATE.plugins.append(ep)


def plugin_errors() -> list[str]:
    """One line per plugin that failed to load, of those loaded so far (nothing is loaded to find them)."""
    with _LOCK:
        return list(_STATE.errors)


def warn_once(line: str) -> None:
    """Keep ``line`` (a plugin's name or file that is left out, and why) for :func:`plugin_warnings`, once."""
    with _LOCK:
        if line not in _STATE.warnings:
            _STATE.warnings.append(line)


def plugin_warnings() -> list[str]:
    """What was left out of plugins so far (a class that cannot work, a file whose name is taken), one line each;
    the command line says them as warnings, beside :func:`plugin_errors`."""
    with _LOCK:
        return list(_STATE.warnings)


def ignored_file(path: Path, winner: str, name: str, winner_path: Path, advice: str) -> str:
    """The line for a file left out because another of its name comes first (``winner``: ``shipped device``)."""
    return f"{path}: ignored: the {winner} {name!r} ({winner_path}) takes the name first{advice}"


def first_of_each_name(kind: str, files: Iterable[tuple[str, Path]],
                       advice: str = "; rename the file") -> dict[str, tuple[str, Path]]:
    """Name (the file's stem) -> (source, path) of the first of ``files`` (``(source, path)`` pairs in lookup order,
    source ``shipped``, ``plugin`` or ``user``) of each name. A later plugin's file of a taken name is never read:
    it is left out with a line for :func:`plugin_warnings` (:func:`ignored_file`), not silently."""
    found: dict[str, tuple[str, Path]] = {}
    for source, path in files:
        first = found.setdefault(path.stem, (source, path))
        if first[1] != path and source == "plugin":
            warn_once(ignored_file(path, f"{first[0]} {kind}", path.stem, first[1], advice))
    return found


def plugin_dirs(folder: str) -> list[Path]:
    """The ``folder`` directories (``conf``, ``search_spaces``) of the loaded plugins' packages that exist."""
    load_plugins()
    out = []
    for ep in _STATE.plugins:
        spec = importlib.util.find_spec(ep.module.partition(".")[0])
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = Path(location) / folder
            if path.is_dir() and path not in out:
                out.append(path)
    return out


def plugin_failure(exc: BaseException) -> str | None:
    """One line for an exception raised by a loaded plugin's own code: the plugin, the exception and the place.

    The innermost frame of ``exc``'s traceback that lies in nasedge or in a plugin package decides: a plugin's
    (its own bug, or a library it called) gives the line; nasedge's (a bug of nasedge, or nasedge refusing what
    a plugin passed it, both worth their traceback) or none gives ``None``.
    """
    with _LOCK:
        plugins = list(_STATE.plugins)
    own = Path(__file__).resolve().parent
    roots: list[tuple[Path, str]] = []
    for ep in plugins:
        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(ep.module.partition(".")[0])
            for location in (spec.submodule_search_locations or [spec.origin]) if spec else []:
                root = Path(location).resolve() if location else None
                if root is not None and not root.is_relative_to(own) and not own.is_relative_to(root):
                    roots.append((root, ep.name))
    if not roots:
        return None
    culprit = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(own):
            culprit = None
        else:
            plugin = next((name for root, name in roots if path == root or path.is_relative_to(root)), None)
            culprit = (plugin, path, line, frame.f_code.co_name) if plugin else culprit
    if culprit is None:
        return None
    plugin, path, line, function = culprit
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"plugin {plugin!r} failed: {type(exc).__name__}{': ' + first if first else ''} "
            f"(in {function}, {path}:{line})")


def reset_plugins() -> None:
    """Forget what plugins registered; the next use loads them again (tests install and remove plugins)."""
    with _LOCK:
        for registry in list(_REGISTRIES):
            registry._forget_plugins()
        _STATE.loaded, _STATE.errors, _STATE.plugins, _STATE.warnings = False, [], [], []
