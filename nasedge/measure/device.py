"""Devices: named (hardware, runtime, precision, threads, batch) tuples, one YAML each in ``conf/device/``.

Devices shipped with nasedge live in its ``conf/device/``; a user's own (``nasedge devices add``) in the
nasedge home's ``conf/device/`` (:func:`nasedge.home.devices_dir`). Both are read by the same loader and
Hydra composes both as the ``device`` group.

A device says where it is measured (``where``):

- ``local``: in this process, by the callback in ``measure`` (``_target_`` + arguments);
- ``ray``: as Ray tasks on the node that offers the resource ``resource`` (default ``device:<name>``);
- ``predict-only``: nowhere; published measurements (``data``: dataset and column) are all there is.

>>> device = get_device("cpu-ort-t1")
>>> measurements = device.measure(archs)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from nasedge import home
from nasedge.arch import Arch
from nasedge.errors import NasedgeError, read_text_file, returned, shown, yaml_error
from nasedge.measure.measurement import Measurement
from nasedge.measure.measurer import (Measurer, RuntimeMeasurer, instantiate_measurer, measurer_class,
                                     measurer_unavailable)
from nasedge.measure.protocol import LatencyStats, OffsetLog, ProtocolConfig
from nasedge.measure.round_journal import RoundJournal
from nasedge.measure.workload import Artifacts, Subnet, Workload
from nasedge.registry import plugin_dirs
from nasedge.resources import shipped_path

WHERE = ("local", "ray", "predict-only")
SHIPPED, PLUGIN, USER = "shipped", "plugin", "user"  # where a device's YAML comes from (the first two read-only)
_MEASURE = "a mapping with _target_ (the Measurer class) and its arguments"
_RESOURCE = "a Ray resource name such as device:jetson-orin"


def _bad(source: str, key: str, value: Any, expected: str) -> NasedgeError:
    return NasedgeError(f"{source}: field '{key}': value {value!r} is not valid; expected {expected}")


def _fits(value: Any, hint: Any) -> bool:
    """Whether a plain (YAML or OmegaConf container) value fits a field's type hint."""
    if typing.get_origin(hint) is Union:
        return any(_fits(value, h) for h in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    if origin is type(None):
        return value is None
    if origin in (dict, Dict):
        return isinstance(value, Mapping)
    return isinstance(value, origin)


def _typed_fields(cls: type, data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``data``'s fields, each checked against ``cls``'s type hints; the error says what the field expects
    (the field's ``metadata["expected"]``)."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise NasedgeError(f"{source}: unknown field '{unknown[0]}'; known: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in data and not _fits(data[f.name], hints[f.name]):
            raise _bad(source, f.name, data[f.name], f.metadata["expected"])
    return dict(data)


def _expects(text: str, **kw: Any) -> Any:
    return field(metadata={"expected": text}, **kw)


@dataclass
class PublishedDataConfig:
    dataset: str = ""  # e.g. help/ofa (a folder of the shared latency datasets)
    column: str = ""  # the device's column in that dataset's latency_ms.csv

    @classmethod
    def from_mapping(cls, data: Any, source: str, key: str) -> PublishedDataConfig:
        if not isinstance(data, Mapping) or set(data) != {"dataset", "column"} or not all(
                isinstance(v, str) and v for v in data.values()):
            raise _bad(source, key, data, "{dataset: NAME, column: NAME}")
        return cls(**data)


@dataclass
class DeviceConfig:
    """Schema of ``conf/device/*.yaml`` (registered in Hydra's ConfigStore as ``device/device_schema``).

    :meth:`from_mapping` is the one validation of a device, for a parsed YAML and a Hydra-composed node alike.
    """

    name: str = _expects("a string", default="")
    description: str = _expects("a string", default="")
    where: str = _expects("one of " + ", ".join(WHERE), default="local")
    # Ray resource of the node holding the device (where: ray)
    resource: Optional[str] = _expects(_RESOURCE, default=None)
    measure: Optional[Dict[str, Any]] = _expects(_MEASURE, default=None)  # {_target_: Measurer class, ...its arguments}
    data: List[PublishedDataConfig] = _expects("a list of {dataset, column}", default_factory=list)
    # the search space the device's archs are measured in when none is named (null: the configured one)
    space: Optional[str] = _expects("a search space name", default=None)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "device") -> DeviceConfig:
        """The typed config of a device mapping; errors name ``source``, the field and its value."""
        if not isinstance(data, Mapping):
            raise NasedgeError(f"{source}: expected a mapping of device fields")
        # `data: null` reads as no published data, as it always has
        values = _typed_fields(cls, {k: v for k, v in data.items()
                                     if k != "defaults" and not (k == "data" and v is None)}, source)
        if values.get("measure") is not None:
            values["measure"] = dict(values["measure"])
        values["data"] = [PublishedDataConfig.from_mapping(d, source, f"data[{i}]")
                          for i, d in enumerate(values.get("data") or [])]
        config = cls(**values)
        config.check(source)
        return config

    def check(self, source: str) -> None:
        """The rules between fields (the types are checked by :meth:`from_mapping`)."""
        if not self.name:
            raise _bad(source, "name", self.name, "the device's name")
        if self.where not in WHERE:
            raise _bad(source, "where", self.where, "one of " + ", ".join(WHERE))
        if self.where == "predict-only":
            if self.measure is not None:
                raise _bad(source, "measure", self.measure, "null for a predict-only device")
            if not self.data:
                raise _bad(source, "data", self.data, "at least one {dataset, column} for a predict-only device")
        else:
            if not isinstance((self.measure or {}).get("_target_"), str):
                raise _bad(source, "measure", self.measure, _MEASURE)
            ProtocolConfig.from_dict(self.measure.get("protocol"), f"{source}: measure.protocol")
        if self.resource is not None and not self.resource:
            raise _bad(source, "resource", self.resource, _RESOURCE)


class Device:
    """A device built from its config; :meth:`measure` routes to wherever the device is."""

    def __init__(self, config: DeviceConfig, source: str = "device"):
        self.config, self.source = config, source
        self.name, self.description, self.where = config.name, config.description, config.where
        self.resource = config.resource or f"device:{config.name}"
        self.data = list(config.data)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_config(cls, data: Mapping[str, Any], source: str = "device") -> Device:
        """Validate a device mapping (parsed YAML or a composed Hydra node) and build the device."""
        return cls(DeviceConfig.from_mapping(data, source), source)

    # --- what and where ------------------------------------------------------------------
    @property
    def measurable(self) -> bool:
        return self.where != "predict-only"

    @property
    def settings(self) -> str:
        """A digest of what the device's latencies depend on (see :func:`_identity`): stored with its measurements
        and profiles, so that those of other settings under the same name (a YAML edited, a board added again)
        are not taken for its own."""
        return _settings_digest(self.config)

    def location(self) -> str:
        """Where measurements run, in words (for ``nasedge devices``)."""
        if self.where == "ray":
            return f"ray node with {self.resource}"
        if self.where == "predict-only":
            return "predict-only (" + (", ".join(f"{d.dataset}:{d.column}" for d in self.data)
                                       or self.description) + ")"
        return "local"

    def unavailable(self) -> str | None:
        """Why this device cannot be measured from here (its runtime, a module or the hardware is missing), or
        ``None``. Local devices only: a Ray device runs on a node of its own, a predict-only one nowhere."""
        if self.where != "local":
            return None
        return measurer_unavailable(self.config.measure or {}, f"{self.source}: measure")

    def check_settings(self) -> None:
        """Fail, as measuring would, on settings its measurer refuses (a runtime's threads, batch, precision or
        options): the built-in :class:`RuntimeMeasurer` of a local device that is available here is built, not run.
        A plugin's measurer is not: its constructor may connect to a board (a phone over adb), which a listing
        must not do, and it checks its own settings when it measures."""
        section = self.config.measure or {}
        if self.where == "local" and self.unavailable() is None and \
                measurer_class(section, f"{self.source}: measure") is RuntimeMeasurer:
            self.measurer()

    def check_available(self) -> None:
        """Fail, before any work starts, with what this machine lacks to measure the device."""
        why = self.unavailable()
        if why is not None:
            raise NasedgeError(f"device {self.name} cannot be measured here: {why}")

    def unmeasurable_reason(self) -> str:
        """Why nothing can be measured on this device (for the unverified results of a predict-only device)."""
        if self.data:
            return f"{self.name} is predict-only (published measurements); nothing can be measured"
        return f"{self.name} is {self.description}: no measurement config is known here"

    @classmethod
    def known_to_service(cls, name: str, url: str) -> Device:
        """A device with no YAML here that a predictor service at ``url`` has a profile of: predicted, never
        measured."""
        config = DeviceConfig(name=name, description=f"known only to the predictor service at {url}",
                              where="predict-only")
        return cls(config, f"predictor service {url}")

    def summary(self) -> str:
        """Runtime settings in a few words (``onnxruntime t1 b1 fp32``)."""
        m = self.config.measure or {}
        if "runtime" not in m:
            return str(m.get("_target_", "-"))
        extra = f" {m['device']}" if m.get("device") not in (None, "cpu") else ""
        extra += " cuda-graph" if m.get("cuda_graph") else ""
        providers = m.get("providers")
        extra += f" [{','.join(providers)}]" if providers and list(providers) != ["cpu"] else ""
        threads = m.get("threads")
        return f"{m['runtime']}{extra} {f't{threads}' if threads is not None else 'all-cores'} b{m.get('batch', 1)} " \
               f"{m.get('precision', 'fp32')}"

    def check_measurable(self) -> None:
        """Fail, before any work starts, when nothing can be measured on this device from here."""
        self._refuse_predict_only()
        self.check_available()

    def _refuse_predict_only(self) -> None:
        if not self.measurable:
            raise NasedgeError(f"device {self.name} is predict-only (published measurements in "
                               f"{', '.join(f'{d.dataset}:{d.column}' for d in self.data)}); it cannot be measured")

    def measurer(self) -> Measurer:
        """The measurement callback, built here (local devices)."""
        self._refuse_predict_only()
        return instantiate_measurer(self.config.measure or {}, f"{self.source}: measure")

    def protocol(self) -> ProtocolConfig:
        """The measurement protocol of the device's ``measure.protocol`` (the defaults where it names none)."""
        return ProtocolConfig.from_dict((self.config.measure or {}).get("protocol"), f"{self.source}: measure.protocol")

    def group_size(self) -> int:
        """How many workloads one call of the measurer gets: its protocol's ``group_size`` where the device's
        ``measure`` section has a protocol (``RuntimeMeasurer``), else the measurer class's own ``group_size``."""
        section = self.config.measure or {}
        if "protocol" in section or self.where != "local":  # a Ray node's measurer need not import here
            return self.protocol().group_size
        return int(getattr(measurer_class(section, f"{self.source}: measure"), "group_size", 1))

    # --- measuring -----------------------------------------------------------------------
    def measure_workloads(self, workloads: Sequence[Workload], *, artifacts: Artifacts | None = None,
                          ray_address: str | None = None,
                          on_chunk: Callable[[int, list[LatencyStats], str], None] | None = None,
                          rounds: RoundJournal | None = None) -> tuple[list[LatencyStats], list[str]]:
        """Measure any workloads (subnets, lookup-table parts); returns the stats and the node of each.

        Works in chunks of the protocol's group size; ``on_chunk(start, stats, node)`` after each one.
        ``rounds`` (one key per workload): where a measurer that keeps rounds keeps those of each group and
        resumes them from (over Ray, the device's node streams them back as they are timed).
        """
        self._refuse_predict_only()
        workloads = list(workloads)
        stats: list[LatencyStats] = []
        nodes: list[str] = []
        if self.where == "ray":
            from nasedge.measure import ray_routing

            ray_routing.connect(self.name, self.resource, ray_address)
            ray_routing.check_resource(self.name, self.resource)
            run = lambda chunk, start: ray_routing.measure_on_node(  # noqa: E731
                self.name, self.resource, self.config.measure or {}, chunk,
                None if rounds is None else OffsetLog(rounds, start))
            prefix = "ray:"
        else:
            measurer = self.measurer()
            artifacts = artifacts if artifacts is not None else Artifacts()
            keeps = rounds is not None and measurer.keeps_rounds

            def run(chunk, start):
                log = {"log": OffsetLog(rounds, start)} if keeps else {}
                return platform.node(), measurer.measure(chunk, artifacts, **log)
            prefix = "local:"
        size = self.group_size()
        for start in range(0, len(workloads), size):
            node, chunk_stats = run(workloads[start:start + size], start)
            self._check_stats(chunk_stats, len(workloads[start:start + size]))
            stats.extend(chunk_stats)
            nodes.extend([prefix + node] * len(chunk_stats))
            if on_chunk is not None:
                on_chunk(start, chunk_stats, prefix + node)
        return stats, nodes

    def _check_stats(self, stats: Any, count: int) -> None:
        """What a measurer (a plugin's) returned for ``count`` workloads, refused unless one :class:`LatencyStats`
        each: zipped with the workloads, rows would be lost; anything else fails deep in the writing of them."""
        who = f"device {self.name}: its measurer {(self.config.measure or {}).get('_target_', '?')}"
        if not isinstance(stats, (list, tuple)):
            raise returned(who, shown(stats), f"a list of {count} LatencyStats, one per workload")
        if len(stats) != count:
            raise returned(who, f"{len(stats)} results for {count} workloads", "one LatencyStats per workload")
        bad = next((i for i, s in enumerate(stats) if not isinstance(s, LatencyStats)), None)
        if bad is not None:
            raise returned(who, f"{shown(stats[bad])} for workload {bad}", "a LatencyStats per workload")

    def measure(self, archs: Sequence[Arch], *, arch_ids: Sequence[str] | None = None,
                artifacts: Artifacts | None = None, ray_address: str | None = None,
                on_chunk: Callable[[list[Measurement]], None] | None = None,
                rounds: RoundJournal | None = None) -> list[Measurement]:
        """Measure whole subnets: one :class:`Measurement` per arch, in order (noisy ones flagged); ``rounds``: as
        in :meth:`measure_workloads`."""
        archs = list(archs)
        ids = [str(i) for i in arch_ids] if arch_ids is not None else [""] * len(archs)
        if len(ids) != len(archs):
            raise ValueError("arch_ids must have one id per arch")

        def chunk_done(start: int, stats: list[LatencyStats], node: str) -> None:
            if on_chunk is not None:
                on_chunk([Measurement(archs[start + i], self.name, s, ids[start + i], node)
                          for i, s in enumerate(stats)])

        stats, nodes = self.measure_workloads([Subnet(a) for a in archs], artifacts=artifacts,
                                              ray_address=ray_address, on_chunk=chunk_done, rounds=rounds)
        return [Measurement(a, self.name, s, i, n) for a, s, i, n in zip(archs, stats, ids, nodes)]

    def describe(self) -> dict[str, Any]:
        """The device's config and, for local devices, how the measurer measures (versions, CPU, protocol)."""
        out: dict[str, Any] = {"name": self.name, "description": self.description, "where": self.location()}
        if self.where == "local":
            out["measure"] = self.measurer().describe()
        else:
            out["measure"] = self.config.measure
        return out

    def __repr__(self) -> str:
        return f"Device({self.name!r}, where={self.where!r})"


# --- registry: conf/device/*.yaml, shipped and the user's ---------------------------------------
def device_dir() -> Path:
    """The devices shipped with nasedge (read-only)."""
    return shipped_path("conf") / "device"


def device_dirs() -> list[tuple[str, Path]]:
    """Where device YAMLs are looked up, first wins: (``shipped``, nasedge's), (``plugin``, each plugin's
    ``conf/device``, as Hydra finds them for ``device=NAME``), (``user``, the nasedge home's)."""
    return [(SHIPPED, device_dir()), *((PLUGIN, d / "device") for d in plugin_dirs("conf")),
            (USER, home.devices_dir())]


def _device_files() -> list[tuple[str, Path]]:
    return [(source, p) for source, d in device_dirs() for p in (sorted(d.glob("*.yaml")) if d.is_dir() else [])]


def _named_files() -> dict[str, tuple[str, Path]]:
    found: dict[str, tuple[str, Path]] = {}
    for source, p in _device_files():
        found.setdefault(p.stem, (source, p))
    return found


def hidden_device_files(name: str) -> list[tuple[str, Path]]:
    """(source, YAML) of the files named ``name`` that a device of the name looked up first hides (the user's
    ``cpu.yaml`` behind the shipped ``cpu``): never read, which `devices add` would have refused."""
    return [(source, p) for source, p in _device_files() if p.stem == name][1:]


def list_devices() -> list[str]:
    """Names of the devices with a config in ``conf/device/``, nasedge's and the user's."""
    return sorted(_named_files())


def device_source(name: str) -> str | None:
    """``shipped``, ``plugin`` or ``user`` for a named device, ``None`` for an unknown name."""
    entry = _named_files().get(name)
    return None if entry is None else entry[0]


def load_device(path: str | Path) -> Device:
    """A device from a YAML file (a shipped one or a user's own)."""
    path = Path(path)
    text = read_text_file(path, "a device YAML file", missing="no such device file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    device = Device.from_config(data, str(path))
    if any(path.parent == d for _, d in device_dirs()) and device.name != path.stem:
        raise NasedgeError(f"{path}: field 'name': value {device.name!r} must match the file name {path.stem!r}")
    if path.parent == home.devices_dir():  # names are file names: on a case-insensitive file system one file
        from nasedge.predict.profile import case_twin

        files = {n: p for n, (_, p) in _named_files().items() if p != path}
        twin = files.get(case_twin(path.stem, files) or "")
        if twin is not None:
            raise NasedgeError(f"{path}: the device name {path.stem!r} differs only in case from that of {twin}, "
                               f"which `nasedge devices add` refuses; rename or remove one of them")
    return device


def is_device_file(name: str) -> bool:
    """Whether ``name`` is the path of a device YAML rather than the name of a ``conf/device`` entry."""
    return name.endswith((".yaml", ".yml"))


def split_device_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """Hydra overrides as (those of the ``device`` node, the rest)."""
    device = [o for o in overrides if o.lstrip("+~").startswith("device.")]
    return device, [o for o in overrides if o not in device]


def device_file(name: str, overrides: Sequence[str] = ()) -> Path:
    """The YAML of device ``name`` (a ``conf/device`` entry, shipped or the user's, or a path); fails for an
    unknown name, and for ``device.*`` overrides of a YAML given by path (they apply to named devices only)."""
    if is_device_file(name):
        bad = split_device_overrides(overrides)[0]
        if bad:
            raise NasedgeError(f"override {bad[0]!r}: device overrides apply to named devices; edit {name} instead")
        return Path(name)
    entry = _named_files().get(name)
    if entry is None:
        raise unknown_device(name)
    return entry[1]


def unknown_device(name: str) -> NasedgeError:
    """``unknown device 'x'; did you mean 'y'? known: ...``, and how to add it where ``name`` can name a device."""
    from nasedge.errors import unknown_name
    from nasedge.predict.profile import case_twin, check_device_name

    known = list_devices()
    error = unknown_name("device", name, known)
    try:
        check_device_name(name)
    except NasedgeError:
        return error
    if case_twin(name, known) is not None:  # which `devices add` refuses
        return error
    return NasedgeError(f"{error} (add your own with `nasedge devices add {name} --runtime onnxruntime`)")


def get_device(name: str, composed: Mapping[str, Any] | None = None) -> Device:
    """A device by name (``conf/device/<name>.yaml``, nasedge's or the user's) or by the path of a device YAML.

    ``composed``: the named device's config as Hydra composed it (its YAML with ``device.*`` overrides
    applied, as a plain container); it is validated exactly like the file.
    """
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    if not isinstance(name, str):
        raise NasedgeError(f"device {name!r} is not valid; expected a name or a device YAML's path")
    path = device_file(name)
    if composed is None:
        return load_device(path)
    if is_device_file(name):
        raise ValueError("a composed device config is for named devices only")
    device = Device.from_config(composed, f"conf/device/{name}.yaml" if device_source(name) == SHIPPED else str(path))
    return _renamed_if_changed(device, load_device(path))


def _identity(config: DeviceConfig) -> DeviceConfig:
    """What a device's latencies depend on: not its words, its default space, nor the protocol's time bounds (how
    long it is timed changes how precise a latency is, not what it is)."""
    measure = {k: v for k, v in (config.measure or {}).items() if k != "protocol"}
    return dataclasses.replace(config, name="", description="", space=None, measure=measure)


def _settings_digest(config: DeviceConfig) -> str:
    return hashlib.sha256(json.dumps(dataclasses.asdict(_identity(config)), sort_keys=True,
                                     default=str).encode()).hexdigest()[:8]


def _renamed_if_changed(device: Device, own: Device) -> Device:
    """``device`` (its YAML with ``device.*`` overrides) under a name of its own where the overrides change how or
    where it measures: profiles, measurements and journals are kept by device name, and the device as its file
    says must not lend them to other settings (nor take theirs). Its Ray resource stays the named device's."""
    if device.name != own.name:  # renamed by the user: to a name of its own, or of a device that measures alike
        if device.name in list_devices() and device.settings != load_device(device_file(device.name)).settings:
            raise NasedgeError(f"device.name={device.name}: {device.name!r} is another device, measured with other "
                               f"settings, and its profiles and measurements would be taken as this one's; choose "
                               f"a new name")
        return device
    if device.settings == own.settings:  # what it measures unchanged
        return device
    config = dataclasses.replace(device.config, name=f"{own.name}+{device.settings}",
                                 resource=device.config.resource or own.resource)  # an overridden one stays
    return Device(config, device.source)
