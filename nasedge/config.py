"""Hydra configuration: typed schemas in a ConfigStore, YAML groups in ``conf/``, one compose entry point.

Every ``nasedge`` verb builds its config with :func:`compose`, turning its flags into overrides, so
that ``nasedge <verb> key=value`` works the same everywhere and experiments are plain YAML files.
Only :mod:`nasedge.cli` and :mod:`nasedge.commands` import this module: the library below them takes the
composed (typed) configs as arguments (tests/test_layers.py holds to it).
Search spaces form the ``search_space`` group without a YAML of their own in ``conf/``: each file in
``search_spaces/`` is registered as an entry, so adding a space stays one file.

:func:`check_overrides` reads the overrides against the group files and the schemas' fields, and composing checks
the values, without importing torch (1-2 s): every schema module is free of it, so a bad override is one line
with the closest valid name and the valid ones, well within 2 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasedge.errors import NasedgeError, check_seed, unknown_name, yaml_error
from nasedge.registry import first_of_each_name, plugin_dirs
from nasedge.resources import assets_path, shipped_path


def register_configs() -> None:
    """Store every schema and generated group entry in Hydra's ConfigStore (idempotent).

    Each schema lives with its part (``nasedge/<part>/config.py`` or the plugin's ``Config``); this is the one
    place that gathers them.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from nasedge import home
    from nasedge.predict import list_predictors, predictor_class
    from nasedge.search import list_strategies, strategy_class
    from nasedge.spaces import list_spaces

    # a schema's default reads the home (the service's database): a bad NASEDGE_HOME is said here in its own line,
    # not with the "full_key:" and "object_type=" lines OmegaConf appends to an error raised while it stores one
    home.home()
    cs = ConfigStore.instance()
    # one schema per group (_SCHEMAS); each group's YAML files extend theirs (defaults: [<group>_schema, _self_])
    for group in _SCHEMAS:
        if group != "search_space":
            cs.store(group=group, name=f"{group}_schema", node=_schema_class(group))
    for name in list_spaces():
        cs.store(group="search_space", name=name, node=_schema_class("search_space")(name=name))
    # a plugin's strategy or predictor that cannot load (its module missing or failing, a requirement not
    # installed) must not stop the others: its schema is left out, and composing it says why (compose)
    for group, names, load in (("search", list_strategies(), strategy_class),
                               ("predictor", list_predictors(), predictor_class)):
        for name in names:
            with contextlib.suppress(NasedgeError):
                cs.store(group=group, name=f"{name}_schema", node=load(name).Config)
    if not OmegaConf.has_resolver("nasedge.asset"):
        OmegaConf.register_new_resolver("nasedge.asset", lambda rel: str(assets_path() / rel))
    if not OmegaConf.has_resolver("nasedge.home"):
        from nasedge import home

        OmegaConf.register_new_resolver("nasedge.home", lambda rel: str(home.home() / rel))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> Any:
    """Compose ``conf/<config_name>.yaml`` with ``overrides``; bad overrides raise :class:`NasedgeError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    added = check_overrides(overrides)
    # a measurer's argument its device's YAML leaves out is added to the section (Hydra sets only what exists)
    overrides = [f"+{o}" if added.get(o) == "add" else o for o in overrides if added.get(o) != "drop"]
    register_configs()
    extra = _conf_dirs()[1:]  # plugins' own config groups, and the user's devices (nasedge devices add)
    confs = [f"'file://{path}'" for path in extra]
    overrides = [*overrides, *([f"hydra.searchpath=[{','.join(confs)}]"] if confs else [])]
    try:
        with initialize_config_dir(config_dir=str(shipped_path("conf")), version_base="1.3"):
            cfg = hydra_compose(config_name, overrides=list(overrides))
    except yaml.YAMLError as exc:  # a group file (a plugin's, the user's device) that does not parse
        raise yaml_error(exc) from None
    except (HydraException, OmegaConfBaseException) as exc:
        line, *more = str(exc).strip().splitlines()
        unloadable = re.search(r"Could not load '(search|predictor)/(.+)_schema'", line)
        if unloadable:  # a plugin's strategy or predictor chosen that could not load: loading it again says why
            from nasedge.predict import predictor_class
            from nasedge.search import strategy_class

            (strategy_class if unloadable.group(1) == "search" else predictor_class)(unloadable.group(2))
        composing = _composing_error(line, more)
        if composing is not None:  # an error in a group file: Hydra's first line names neither the file nor the key
            raise composing from None
        bad = re.match(r"Could not override '([^']+)'", line)
        inner = re.match(r"Key '([^']+)' not in '([^']+)'", str(exc.__cause__ or ""))
        if bad and inner and inner.group(1) != bad.group(1).rpartition(".")[2]:  # a key inside the value given
            raise NasedgeError(f"override {bad.group(1)}=...: unknown key {inner.group(1)!r} in its value "
                               f"(a {inner.group(2)})") from None
        if bad:  # a key the pre-check could not see (below a group's fields): name its valid neighbours
            raise _unknown_key(bad.group(1), [o for o in overrides if not _key(o).startswith(bad.group(1))],
                               config_name) from None
        gone = re.match(r"Could not delete from config. '([^']+)' does not exist", line)
        if gone and _is_null(gone.group(1), [o for o in overrides if o != f"~{gone.group(1)}"], config_name):
            raise NasedgeError(f"override '~{gone.group(1)}': {gone.group(1)} is null, which Hydra cannot delete "
                               f"(it takes it for a key that is not there); set it instead ({gone.group(1)}=VALUE) "
                               f"or drop the override") from None
        there = re.search(r"An item is already at '([^']+)'", line)
        if there:  # ``+key=v`` adds a key: one that exists is set without the ``+``
            raise NasedgeError(f"override '+{there.group(1)}=...': {there.group(1)!r} exists; set it without the "
                               f"'+' ({there.group(1)}=...)") from None
        cause = exc.__cause__
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            refused = _refused_value(cause, overrides)
            if refused is not None:
                raise refused from None
            # "Error merging override k=v" alone does not say what k takes: OmegaConf's reason does
            reason = str(cause).strip().splitlines()[0]
            raise NasedgeError(f"configuration: {cause.full_key}: {reason}") from None
        raise NasedgeError(f"configuration: {line}") from None
    _check_groups_are_mappings(cfg, extra)
    _check_resolves(cfg, overrides)
    if "seed" in cfg:  # an experiment's YAML sets it too, where the overrides' check does not look
        check_seed("seed", cfg.seed)
    return cfg


def _is_null(key: str, overrides: Sequence[str], config_name: str) -> bool:
    """``key`` is there, set to null, in the configuration ``overrides`` compose (``False`` where they do not)."""
    from omegaconf import OmegaConf

    missing = object()
    try:
        return OmegaConf.select(compose(overrides, config_name), key, default=missing) is None
    except NasedgeError:
        return False


def _refused_value(cause: Exception, overrides: Sequence[str]) -> NasedgeError | None:
    """OmegaConf's refusal of a value for a typed field (not Optional, could not be converted to Integer, str is not
    a ListConfig, cannot merge DictConfig with ListConfig, ...), in the words of every other bad value: ``KEY: value
    V is not valid; expected E``, E said by the field's type; None where its type says nothing (``Any``)."""
    import typing

    from omegaconf.errors import ConfigTypeError, ValidationError

    if not isinstance(cause, (ValidationError, ConfigTypeError)):
        return None
    key, owner, name = cause.full_key, getattr(cause, "object_type", None), getattr(cause, "key", None)
    default = None
    if isinstance(name, int):  # an item of a list: the list's item type (a tuple's, per position)
        args = typing.get_args(getattr(cause, "ref_type", None))
        kind = (args[name] if len(args) > name and Ellipsis not in args else args[0]) if args else None
    elif dataclasses.is_dataclass(owner) and isinstance(name, str):
        kind = _field_types(owner).get(name)
        default = next((_default(f) for f in dataclasses.fields(owner) if f.name == name), None)
    else:  # a merge refused (a mapping given for a list): the node's own type
        kind = getattr(cause, "ref_type", None)
    takes = _takes(kind)
    if takes is None:
        return None
    given = _given(overrides, key)
    if given is None:  # an item, or a value of a YAML: OmegaConf's value
        given = "null" if cause.value is None else repr(cause.value)
    example = _example(kind, key, given, default)
    return NasedgeError(f"{key}: value {given or repr(given)} is not valid; expected {takes}"
                        f"{f', e.g. {example}' if example else ''}")


def _check_resolves(cfg: Any, overrides: Sequence[str]) -> None:
    """Every interpolation of the composed configuration (``${oc.env:VAR}``, ``${other.key}``) resolves, to a value
    its field takes: composing does not resolve them, reading the value does, and that is after the verb's loads
    (a traceback of OmegaConf's, exit 1). Resolved here once, its failure is one line (:func:`_unresolved`)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError as exc:
        raise _unresolved(exc, overrides) from None


def _unresolved(exc: Exception, overrides: Sequence[str]) -> NasedgeError:
    """OmegaConf's failure to resolve an interpolation, in the words of every other bad value: ``KEY: value V is not
    valid; <why>`` (V as the override gives it; a value the overrides do not give is named by its key alone)."""
    from omegaconf.errors import InterpolationKeyError, InterpolationValidationError, UnsupportedInterpolationType

    inner: BaseException | None = exc
    while inner is not None:  # a resolver of nasedge's (the home's) says what is wrong itself
        if isinstance(inner, NasedgeError):
            return inner
        inner = inner.__cause__ or inner.__context__
    key = getattr(exc, "full_key", "") or "configuration"
    given = _given(overrides, key)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, InterpolationValidationError):
        refused = _refused_value(exc, overrides)  # "KEY: value V is not valid; expected E"
        resolved = re.search(r"Value ('[^']*'|\S+) of type", text)
        if refused is not None:
            return NasedgeError(f"{refused}{f' (it resolves to {resolved.group(1)})' if resolved else ''}")
    missing = re.search(r"Interpolation key '([^']+)' not found", text)
    unset = re.search(r"Environment variable '([^']+)' not found", text)
    unknown = re.search(r"Unsupported interpolation type (\S+)", text)
    if isinstance(exc, InterpolationKeyError) and missing:
        why = f"it interpolates {missing.group(1)!r}, which is no configuration key"
    elif unset:
        why = (f"environment variable {unset.group(1)} is not set (a default after a comma: "
               f"${{oc.env:{unset.group(1)},VALUE}})")
    elif isinstance(exc, UnsupportedInterpolationType) and unknown:
        from omegaconf import OmegaConf  # noqa: F401  (its resolvers are registered on import)
        from omegaconf.basecontainer import BaseContainer

        why = unknown_name("resolver", unknown.group(1), sorted(BaseContainer._resolvers))
    else:
        why = f"it does not resolve ({text[0].lower()}{text[1:]})"
    return NasedgeError(f"{key}: value {given} is not valid; {why}" if given is not None else f"{key}: {why}")


def _field_types(owner: type) -> dict[str, Any]:
    """The fields' types of a schema dataclass (empty where an annotation does not resolve: OmegaConf's words)."""
    import typing

    try:
        return typing.get_type_hints(owner)
    except Exception:  # noqa: BLE001  (any error of evaluating an annotation)
        return {}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


_SCALARS = {bool: ("true or false", "true or false values"), int: ("an integer", "integers"),
            float: ("a number", "numbers"), str: ("a string", "strings")}


def _sequence_args(kind: Any) -> tuple[Any, ...] | None:
    """The item types of a list or tuple type (``()``: not said), None for another type."""
    import typing

    if typing.get_origin(kind) in (list, tuple) or kind in (list, tuple):
        return typing.get_args(kind)
    return None


def _optional(kind: Any) -> tuple[Any, bool]:
    """``Optional[X]`` -> ``(X, True)``; another type -> ``(kind, False)``."""
    import typing

    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Union and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return (inner[0] if len(inner) == 1 else Any), True
    return kind, False


def _takes(kind: Any, plural: bool = False) -> str | None:
    """What a field of type ``kind`` takes, for a user (``an integer``; plural: ``integers``); None for ``Any``."""
    import enum
    import typing

    kind, optional = _optional(kind)
    if optional:
        one = _takes(kind, plural)
        return None if one is None else f"{one} or null"
    args = _sequence_args(kind)
    if args is not None:
        fixed = typing.get_origin(kind) is tuple and args and Ellipsis not in args
        item = _takes(args[0], plural=True) if args else None
        count = f"{len(args)} " if fixed and len(set(args)) == 1 else ""
        return f"{'lists' if plural else 'a list'}{f' of {count}{item}' if item else ''}"
    if typing.get_origin(kind) is dict or kind is dict:
        return "mappings of keys to values" if plural else "a mapping of keys to values"
    if dataclasses.is_dataclass(kind):
        return f"{'mappings' if plural else 'a mapping'} of the fields of {kind.__name__}"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(m.name for m in kind)
    scalar = _SCALARS.get(kind)
    return None if scalar is None else scalar[plural]


def _example(kind: Any, key: str, given: str, default: Any) -> str:
    """An override of ``key`` that a list or mapping field takes: the scalar ``given`` as the list's one item, where
    it is one, else the default; empty for other fields (the type said is example enough)."""
    import dataclasses
    import typing

    kind, _ = _optional(kind)
    args = _sequence_args(kind)
    if args is not None:
        item = _optional(args[0])[0] if args else Any
        if typing.get_origin(kind) is tuple and len(args) > 1 and Ellipsis not in args:
            item = None  # a fixed number of items: one is not an example of them
        try:
            fits = item is str or (item in (int, float) and bool(given) and item(given) is not None)
        except ValueError:
            fits = False
        if fits and given not in ("null", "") and given[0] not in "[{'\"":
            return f"{key}=[{given}]"
        if isinstance(default, (list, tuple)) and default and all(isinstance(v, (str, int, float)) for v in default):
            return f"{key}=[{','.join(str(v) for v in default)}]"  # items of a dataclass have no override syntax
        if dataclasses.is_dataclass(item):  # its items are mappings of its fields
            return f"{key}=[{{{dataclasses.fields(item)[0].name}: ...}}]"
        return f"{key}=[...]"
    if typing.get_origin(kind) is dict or kind is dict:
        return f"{key}={{name: value}}"
    return ""


def _check_groups_are_mappings(cfg: Any, extra: Sequence[Path]) -> None:
    """A group's YAML that holds a list or a value composes without complaint, and fails later in the verb (after
    its work): one line naming the file instead."""
    from omegaconf import DictConfig

    choices, _ = _root_defaults()
    for group in choices:
        if group in cfg and cfg[group] is not None and not isinstance(cfg[group], DictConfig):
            for d in [shipped_path("conf"), *extra]:
                for path in sorted((d / group).glob("*.yaml")):
                    _read_yaml(path)  # the file that is no mapping says so, with its name
            raise NasedgeError(f"configuration group {group!r}: expected a mapping of keys, got "
                               f"{type(cfg[group]).__name__}")


# group -> "module:Class" of its schema, the one list of them: register_configs stores them, check_overrides reads
# their fields from the source (the search and predictor schemas are their plugins' ``Config``)
_SCHEMAS = {"supernet": "nasedge.supernet.config:SupernetConfig", "data": "nasedge.data.config:DataConfig",
            "train": "nasedge.train.config:TrainConfig", "device": "nasedge.measure.device:DeviceConfig",
            "search_space": "nasedge.spaces.config:SearchSpaceConfig",
            "service": "nasedge.service.settings:ServiceSettings",
            "specialize": "nasedge.specialize.config:SpecializeConfig"}


def _schema_class(group: str) -> type:
    """The schema dataclass of a group of :data:`_SCHEMAS`."""
    import importlib

    module, _, cls = _SCHEMAS[group].partition(":")
    return getattr(importlib.import_module(module), cls)


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def _given(overrides: Sequence[str], key: str) -> str | None:
    """The value the last of ``overrides`` to set ``key`` gives it (as written), or ``None``."""
    return next((o.partition("=")[2] for o in reversed(overrides) if "=" in o and _key(o) == key), None)


def _conf_dirs() -> list[Path]:
    """The config roots: nasedge's, the plugins', and the nasedge home's (the user's devices, nasedge devices add)."""
    from nasedge import home

    shipped, plugins = shipped_path("conf"), plugin_dirs("conf")
    _ignored_plugin_options(shipped, plugins)
    return [shipped, *plugins, *([home.conf_dir()] if home.conf_dir().is_dir() else [])]


def _ignored_plugin_options(shipped: Path, plugins: Sequence[Path]) -> None:
    """A plugin's group file whose name an earlier root takes (``conf/search/evolution.yaml``) is never composed:
    said once, as a warning (devices are said by ``nasedge devices``, which lists where each comes from)."""
    groups = {p.name for root in plugins for p in root.iterdir() if p.is_dir() and p.name != "device"}
    for group in sorted(groups):
        files = [("shipped", p) for p in sorted((shipped / group).glob("*.yaml"))]
        files += [("plugin", p) for root in plugins for p in sorted((root / group).glob("*.yaml"))]
        first_of_each_name(f"{group} option", files)


def _read_yaml(path: Path) -> dict:
    """A config YAML's mapping; one that does not parse, or is no mapping, is one line naming the file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NasedgeError(f"{path}: expected a mapping of configuration keys, got {type(data).__name__}")
    return data


def _composing_error(line: str, lines: list[str]) -> NasedgeError | None:
    """Hydra's ``In 'group/option': <Error> raised while composing config:`` says what is wrong on its next lines
    only: one line naming the file and the key (an unknown key with the schema's fields), or ``None``."""
    m = re.match(r"In '([^']+)': \w+ raised while composing config:$", line)
    if not m:
        return None
    config = m.group(1)
    where = next((str(d / f"{config}.yaml") for d in _conf_dirs()
                  if (d / f"{config}.yaml").is_file()), f"configuration {config!r}")
    rest = [s.strip() for s in lines if s.strip()]
    full_key = next((s.partition(":")[2].strip() for s in rest if s.startswith("full_key:")), "")
    reason = next((s for s in rest if not s.startswith(("full_key:", "object_type=", "reference_type="))), "")
    unknown = re.match(r"Key '([^']+)' not in '[^']+'", reason)
    group, _, option = config.partition("/")
    if unknown:  # the key as the file writes it; the schema's fields where it is one of them
        key = full_key.removeprefix(f"{group}.") if full_key else unknown.group(1)
        fields = _schema_fields(group, option) if key == unknown.group(1) and option and "/" not in option else set()
        return NasedgeError(f"{where}: {unknown_name('key', key, sorted(fields))}" if fields
                            else f"{where}: unknown key {key!r}")
    if not reason:
        return None
    return NasedgeError(f"{where}: {f'{full_key}: ' if full_key else ''}{reason}")


def group_options(group: str) -> list[str]:
    """The options of a config group (``search`` -> evolution, optuna, random): its YAML files, plugins' included."""
    if group == "search_space":
        from nasedge.spaces import list_spaces

        return list_spaces()
    names = {p.stem for d in _conf_dirs() for p in (d / group).glob("*.yaml")}
    return sorted(names)


def _root_defaults() -> tuple[dict[str, str], set[str]]:
    """The root config's group choices and its own keys (``seed``)."""
    root = _read_yaml(shipped_path("conf") / "config.yaml")
    choices = {}
    for d in root.get("defaults", []):
        if isinstance(d, dict):
            choices.update({str(k): v for k, v in d.items()})
    return choices, {k for k in root if k != "defaults"}


def _yaml_data(group: str, option: str, seen: frozenset = frozenset()) -> dict:
    """What an option's YAML sets, over what the options of the same group it extends set (top level merged)."""
    for d in _conf_dirs():
        path = d / group / f"{option}.yaml"
        if path.is_file():
            break
    else:
        return {}
    data = _read_yaml(path)
    merged: dict = {}
    for entry in data.get("defaults", []) or []:
        if isinstance(entry, str) and entry != "_self_" and entry not in seen and not entry.endswith("_schema"):
            merged.update(_yaml_data(group, entry, seen | {option}))
    merged.update({k: v for k, v in data.items() if k != "defaults"})
    return merged


def _schema_fields(group: str, option: str) -> set[str]:
    """Field names of a group's schema (every schema module is free of torch: importing them is light)."""
    if group == "search":
        from nasedge.search import list_strategies, strategy_class

        return {f for f in strategy_class(option).Config.__dataclass_fields__} if option in list_strategies() else set()
    if group == "predictor":
        from nasedge.predict import list_predictors, predictor_class

        return ({f for f in predictor_class(option).Config.__dataclass_fields__}
                if option in list_predictors() else set())
    return set(_schema_class(group).__dataclass_fields__) if group in _SCHEMAS else set()


def _chosen(overrides: Sequence[str]) -> set[str]:
    """The groups the overrides choose an option of (they win over an experiment's choice)."""
    return {_key(o) for o in overrides if "." not in _key(o) and "=" in o}


def _experiment_choices(name: str, seen: frozenset = frozenset()) -> dict[str, str]:
    """The group options an experiment selects (``- override /search: optuna``), through the experiments it extends."""
    out: dict[str, str] = {}
    for d in _conf_dirs():
        path = d / "experiment" / f"{name}.yaml"
        if path.is_file():
            for entry in _read_yaml(path).get("defaults", []) or []:
                if isinstance(entry, str) and entry != "_self_" and entry not in seen:
                    out.update(_experiment_choices(entry, seen | {name}))
                elif isinstance(entry, dict):
                    out.update({str(k).split()[-1].lstrip("/"): str(v) for k, v in entry.items()})
            break
    return out


def check_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """Fail with one line (the closest valid name and the valid ones) on an override naming an unknown group
    option (``search=evolutoin``), an unknown group or root key (``seeed=1``) or an unknown field of a group
    (``search.max_evaluatons=10``), an added one (``+``) too: nothing would read it. Keys below a group's fields
    are left to :func:`compose` (which names their valid neighbours too); ``+`` may add keys there and ``~`` delete
    them (a measurer's arguments, ``+device.measure.protocol.max_seconds=1``), but a group, a root key or a
    group's field cannot be deleted. Hydra's own settings (``hydra.*``) are refused.

    A device's measurer takes the arguments of its class and, for a runtime's, the runtime's options, whether its
    YAML writes them or not (``device.measure.optimization=basic``): returned are the overrides that set one the
    YAML leaves out, each with what :func:`compose` does with it: ``"add"`` it (``+``), or ``"drop"`` it where it
    sets the default that applies anyway."""
    added: dict[str, str] = {}
    choices, root_keys = _root_defaults()
    groups = [g for g in choices if g != "_self_"]
    for o in overrides:
        if o.startswith("~"):  # a measurer's own argument may go (its default applies); what a schema holds may not
            if _key(o).count(".") < 2:
                raise NasedgeError(f"override {o!r}: {_key(o)!r} cannot be deleted (its schema needs it); set it "
                                   f"instead ({_key(o)}=...)")
            continue
        if "=" not in o:
            raise NasedgeError(f"override {o!r} is not valid; expected KEY=VALUE (e.g. seed=1, search=optuna)")
        key, value = _key(o), o.partition("=")[2]
        if "[" in key:  # Hydra's grammar has no indexing: list items are keys of their own
            dotted = re.sub(r"\[(\d+)\]", r".\1", key)
            raise NasedgeError(f"override {o!r}: write a list item's key with dots ({dotted}=...)")
        if key.split(".")[0] == "hydra":  # composed, not run by Hydra: its own settings (run.dir, job.*) do nothing
            raise NasedgeError(f"override {o!r}: Hydra's own settings have no effect in nasedge; outputs go where "
                               f"--out, train.out_dir or the nasedge home say")
        if o.startswith("+"):
            continue
        if key in groups:
            if key == "device":  # a device's name: nasedge's, a plugin's or the user's (their keys: by their YAML)
                choices[key] = value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value
                from nasedge.measure.device import list_devices, unknown_device

                if choices[key] not in list_devices():  # Hydra's words name neither the known ones nor the closest
                    raise unknown_device(choices[key])
                continue
            if key == "experiment" and value in ("null", ""):
                continue
            options = group_options(key)
            if value not in options:
                raise _unknown_option(key, value, options)
            choices[key] = value
            if key == "experiment":  # an experiment may select other options (``override /search: optuna``)
                choices.update({g: v for g, v in _experiment_choices(value).items() if g not in _chosen(overrides)})
    for o in overrides:
        key = _key(o)
        if o.startswith("~") or key in groups:
            continue
        head, _, rest = key.partition(".")
        if head not in groups:
            if not rest and head in root_keys:
                if head == "seed":
                    check_seed("seed", o.partition("=")[2])
                continue
            raise unknown_name("configuration key", key, sorted({*groups, *root_keys}))
        path = [part.split("[")[0] for part in rest.split(".")]
        option = str(choices.get(head))
        data = _yaml_data(head, option)
        known = set(data) | _schema_fields(head, option)
        if known and path[0] not in known:
            raise _suggest(f"{head}.{path[0]}", sorted(f"{head}.{k}" for k in known))
        if (head, path[0]) == ("device", "measure") and len(path) > 1 and data and data.get("measure") is None:
            raise NasedgeError(f"override {o.lstrip('+')!r}: device {data.get('name', option)} is predict-only (it "
                               f"has no measure settings: it is predicted from published measurements), so "
                               f"device.measure.* does not apply")
        if o.startswith("+"):  # adds a key below a known field (a measurer's argument): nothing there to check
            continue
        # below a field: the mappings the YAML writes are the keys Hydra accepts there
        node, prefix = data.get(path[0]), f"{head}.{path[0]}"
        for depth, part in enumerate(path[1:]):
            if not isinstance(node, dict):
                break
            # only for a key the YAML leaves out: the measurer's class (and runtime) need not be imported otherwise
            takes = ({} if part in node else
                     _measure_arguments(node, overrides) if (head, path[0], depth) == ("device", "measure", 0) else
                     _protocol_fields() if (head, *path[:2], depth) == ("device", "measure", "protocol", 1) else {})
            if part not in node and part in takes:  # an argument the YAML leaves to its default
                # set to that default, it changes nothing, and added it would give the device other settings (a name
                # of its own, without its profiles): left out
                added[o] = "drop" if depth == len(path) - 2 and _is_value(value, takes[part]) else "add"
                break
            if part not in node:
                raise _suggest(f"{prefix}.{part}", sorted(f"{prefix}.{k}" for k in {*node, *takes}))
            node, prefix = node[part], f"{prefix}.{part}"
    return added


def _is_value(text: str, default: Any) -> bool:
    """Whether an override's ``text`` is the value ``default`` (``inspect.Parameter.empty``: there is none)."""
    import inspect

    import yaml

    try:
        return default is not inspect.Parameter.empty and yaml.safe_load(text) == default
    except yaml.YAMLError:
        return False


def _measure_arguments(section: dict, overrides: Sequence[str]) -> dict[str, Any]:
    """The keys a device's ``measure`` section takes: its measurer's arguments and, for a runtime's measurer, the
    options of its runtime (``device.measure.runtime=`` of ``overrides`` where given); none where they cannot be
    known here (the measurer or runtime does not import: composing or measuring says why)."""
    import inspect

    from nasedge.measure.measurer import RuntimeMeasurer, measurer_class
    from nasedge.measure.runtime import get_runtime

    try:
        cls = measurer_class(section, "measure")
    except NasedgeError:
        return {}
    named = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    keys = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and p.kind not in named}
    if issubclass(cls, RuntimeMeasurer):
        given = _given(overrides, "device.measure.runtime")
        runtime = section.get("runtime") if given is None else given
        with contextlib.suppress(NasedgeError):
            keys.update(get_runtime(str(runtime)).options)
    return keys


def _protocol_fields() -> dict[str, Any]:
    """The settings of a device's measurement protocol (``device.measure.protocol.*``), its YAML's or not, with
    their defaults (``inspect.Parameter.empty``: none)."""
    import inspect

    from nasedge.measure.protocol import ProtocolConfig

    return {f.name: f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty
            for f in dataclasses.fields(ProtocolConfig)}


def _unknown_option(group: str, value: str, options: Sequence[str]) -> NasedgeError:
    """An option of ``group`` that none of its YAML files is, in the words of the flag that chooses it too
    (``--strategy``: a search strategy, ``--space``: a search space); ``<group> option`` for the other groups. A
    strategy or predictor registered without its YAML is not unknown: the file it lacks is said."""
    unfiled = _registered_without_yaml(group, value)
    if unfiled is not None:
        return unfiled
    if group == "search":
        from nasedge.search import unknown_strategy

        return unknown_strategy(value, options)
    if group == "search_space":
        from nasedge.spaces import unknown_space

        return unknown_space(value, list(options))
    return unknown_name(f"{group} option", value, list(options))


def _registered_without_yaml(group: str, value: str) -> NasedgeError | None:
    """The error of a registered strategy or predictor that has no YAML in its config group (Hydra composes the
    group's files, not the registry), or ``None`` where ``value`` is not registered."""
    if group == "search":
        from nasedge.search import list_strategies, strategy_entry

        entry = strategy_entry(value) if value in list_strategies() else None
    elif group == "predictor":
        from nasedge.predict import list_predictors, predictor_entry

        entry = predictor_entry(value) if value in list_predictors() else None
    else:
        entry = None
    if entry is None:
        return None
    kind = "search strategy" if group == "search" else "latency predictor"
    where = "its plugin's package" if entry.plugin else "nasedge"
    return NasedgeError(f"{kind} {value!r} ({entry.describe()}) is registered but has no config file "
                        f"conf/{group}/{value}.yaml; {where} needs one to select it (defaults: [{value}_schema, "
                        f"_self_], then its options)")


def _suggest(key: str, known: Sequence[str]) -> NasedgeError:
    return unknown_name("configuration key", key, list(known), last_part=True)


def _unknown_key(key: str, others: Sequence[str], config_name: str) -> NasedgeError:
    """The error for ``key`` Hydra could not override: its valid neighbours (the keys beside it)."""
    from omegaconf import OmegaConf

    parent, _, _ = key.rpartition(".")
    try:
        cfg = compose(others, config_name)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        known = sorted(f"{parent}.{k}" if parent else str(k) for k in node.keys()) if hasattr(node, "keys") else []
    except NasedgeError:
        known = []
    if not known:
        return NasedgeError(f"configuration: unknown key {key!r}")
    return _suggest(key, known)


def check_device_name(device: str) -> None:
    """An unknown device name is one line with the closest known name (a device YAML's path is checked on load)."""
    from nasedge.measure.device import is_device_file, list_devices, unknown_device

    if not is_device_file(device) and device not in list_devices():
        raise unknown_device(device)


def device_override(device: str) -> str:
    """The override choosing the named device: ``device='<name>'``, quoted, so that a name YAML would read as a number
    or a constant (``123``, ``null``, ``true``) is still the name (device names hold no quotes)."""
    return f"device='{device}'"


def compose_with_device(device: str, overrides: Sequence[str] = ()) -> tuple[Any, Any]:
    """The composed configuration and the device ``device`` (a ``conf/device`` name, nasedge's or the user's, or
    a device YAML's path).

    The ``device.*`` overrides apply to the named device (composed as the ``device`` group); given a path, they
    fail (edit the file). The device is validated by :func:`nasedge.measure.device.get_device` either way, and
    must be measurable from here (:meth:`~nasedge.measure.device.Device.check_available`): every verb that
    composes a device measures on it.
    """
    from omegaconf import OmegaConf

    from nasedge.measure.device import device_file, get_device, is_device_file, load_device

    check_device_name(device)
    path = device_file(device, overrides)  # an unknown name, or device overrides of a YAML path, fail before composing
    if not is_device_file(device) and any(_key(o).startswith("device.") for o in overrides):
        load_device(path)  # a broken YAML (a list, empty) says so itself, not as the override it fails under
    if is_device_file(device):
        cfg, loaded = compose(overrides), get_device(device)
    else:
        cfg = compose([device_override(device), *overrides])
        ours = [o for o in overrides if _key(o).startswith("device.")]
        try:
            loaded = get_device(device, OmegaConf.to_container(cfg.device, resolve=True))
        except NasedgeError as exc:  # the message names the device's file: say what changed it
            if not ours:
                raise
            raise NasedgeError(f"{exc} (the device as the overrides {' '.join(ours)} change it)") from None
        if ours:  # what is found wrong later (its measurer's arguments) is the overrides', not the file's
            loaded.source = f"override{'s' * (len(ours) > 1)} {' '.join(ours)} of {loaded.source}"
    loaded.check_available()
    return cfg, loaded


def data_overrides(value: str) -> list[str]:
    """The overrides a ``--data`` flag stands for: a ``conf/data`` name, an ImageFolder directory (``data=image_folder``,
    ImageNet-style pipeline), or a packed ``.npz`` file (the configured data group's settings, that file)."""
    from pathlib import Path

    if (shipped_path("conf") / "data" / f"{value}.yaml").is_file():
        return [f"data={value}"]
    path = Path(value)
    if path.is_dir():
        return ["data=image_folder", f"data.path={path.resolve()}"]
    if path.is_file():
        return ["data.kind=packed_npz", f"data.path={path.resolve()}"]
    raise NasedgeError(f"--data: {value!r} is neither a data configuration (conf/data) nor an existing folder or file")
