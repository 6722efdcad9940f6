"""Devices: named (hardware, runtime, precision, threads, batch) tuples, one YAML each in ``conf/device/``.

A device says where it is measured (``where``):

- ``local``: in this process, by the callback in ``measure`` (``_target_`` + arguments);
- ``ray``: as Ray tasks on the node that offers the resource ``resource`` (default ``device:<name>``);
- ``predict-only``: nowhere; published measurements (``data``: dataset and column) are all there is.

>>> device = get_device("cpu-ort-t1")
>>> measurements = device.measure(archs)
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.measure.measurement import Measurement
from nasedge.measure.measurer import Measurer, instantiate_measurer
from nasedge.measure.protocol import LatencyStats, ProtocolConfig
from nasedge.measure.workload import Artifacts, Subnet, Workload
from nasedge.resources import shipped_path

WHERE = ("local", "ray", "predict-only")


@dataclass
class PublishedDataConfig:
    dataset: str = ""  # e.g. help/ofa (a folder of the shared latency datasets)
    column: str = ""  # the device's column in that dataset's latency_ms.csv


@dataclass
class DeviceConfig:
    """Schema of ``conf/device/*.yaml`` (registered in Hydra's ConfigStore as ``device/device_schema``)."""

    name: str = ""
    description: str = ""
    where: str = "local"
    resource: Optional[str] = None  # Ray resource of the node holding the device (where: ray)
    measure: Optional[Dict[str, Any]] = None  # {_target_: Measurer class, ...its arguments}
    data: List[PublishedDataConfig] = field(default_factory=list)


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
        if not isinstance(data, Mapping):
            raise NasedgeError(f"{source}: expected a mapping of device fields")
        data = {k: v for k, v in data.items() if k != "defaults"}
        known = DeviceConfig.__dataclass_fields__
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise NasedgeError(f"{source}: unknown field '{unknown[0]}'; known: {', '.join(known)}")

        def bad(key: str, expected: str) -> NasedgeError:
            return NasedgeError(f"{source}: field '{key}': value {data.get(key)!r} is not valid; expected {expected}")

        for key in ("name", "description"):
            if not isinstance(data.get(key, ""), str):
                raise bad(key, "a string")
        if not data.get("name"):
            raise bad("name", "the device's name")
        where = data.get("where", "local")
        if where not in WHERE:
            raise bad("where", "one of " + ", ".join(WHERE))
        measure = data.get("measure")
        if where == "predict-only":
            if measure is not None:
                raise bad("measure", "null for a predict-only device")
        elif not isinstance(measure, Mapping) or not isinstance(measure.get("_target_"), str):
            raise bad("measure", "a mapping with _target_ (the Measurer class) and its arguments")
        resource = data.get("resource")
        if resource is not None and (not isinstance(resource, str) or not resource):
            raise bad("resource", "a Ray resource name such as device:jetson-orin")
        raw_data = data.get("data") or []
        if not isinstance(raw_data, list):
            raise bad("data", "a list of {dataset, column}")
        published = []
        for i, d in enumerate(raw_data):
            if not isinstance(d, Mapping) or set(d) != {"dataset", "column"} or not all(
                    isinstance(v, str) and v for v in d.values()):
                raise NasedgeError(f"{source}: field 'data[{i}]': value {d!r} is not valid; expected "
                                   "{dataset: NAME, column: NAME}")
            published.append(PublishedDataConfig(d["dataset"], d["column"]))
        if where == "predict-only" and not published:
            raise bad("data", "at least one {dataset, column} for a predict-only device")
        config = DeviceConfig(name=data["name"], description=data.get("description", ""), where=where,
                              resource=resource, measure=dict(measure) if measure is not None else None,
                              data=published)
        if where != "predict-only":
            ProtocolConfig.from_dict(dict(measure.get("protocol") or {}), f"{source}: measure.protocol")
        return cls(config, source)

    # --- what and where ------------------------------------------------------------------
    @property
    def measurable(self) -> bool:
        return self.where != "predict-only"

    def location(self) -> str:
        """Where measurements run, in words (for ``nasedge devices``)."""
        if self.where == "ray":
            return f"ray node with {self.resource}"
        if self.where == "predict-only":
            return "predict-only (" + ", ".join(f"{d.dataset}:{d.column}" for d in self.data) + ")"
        return "local"

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

    def _refuse_predict_only(self) -> None:
        if not self.measurable:
            raise NasedgeError(f"device {self.name} is predict-only (published measurements in "
                               f"{', '.join(f'{d.dataset}:{d.column}' for d in self.data)}); it cannot be measured")

    def measurer(self) -> Measurer:
        """The measurement callback, built here (local devices)."""
        self._refuse_predict_only()
        return instantiate_measurer(self.config.measure or {}, f"{self.source}: measure")

    def group_size(self) -> int:
        protocol = (self.config.measure or {}).get("protocol") or {}
        return int(protocol.get("group_size", ProtocolConfig.group_size))

    # --- measuring -----------------------------------------------------------------------
    def measure_workloads(self, workloads: Sequence[Workload], *, artifacts: Artifacts | None = None,
                          ray_address: str | None = None,
                          on_chunk: Callable[[int, list[LatencyStats], str], None] | None = None,
                          ) -> tuple[list[LatencyStats], list[str]]:
        """Measure any workloads (subnets, lookup-table parts); returns the stats and the node of each.

        Works in chunks of the protocol's group size; ``on_chunk(start, stats, node)`` after each one.
        """
        self._refuse_predict_only()
        workloads = list(workloads)
        stats: list[LatencyStats] = []
        nodes: list[str] = []
        if self.where == "ray":
            from nasedge.measure import ray_routing

            ray_routing.connect(self.name, self.resource, ray_address)
            ray_routing.check_resource(self.name, self.resource)
            run = lambda chunk: ray_routing.measure_on_node(  # noqa: E731
                self.name, self.resource, self.config.measure or {}, chunk)
            prefix = "ray:"
        else:
            measurer = self.measurer()
            artifacts = artifacts if artifacts is not None else Artifacts()
            run = lambda chunk: (platform.node(), measurer.measure(chunk, artifacts))  # noqa: E731
            prefix = "local:"
        size = self.group_size()
        for start in range(0, len(workloads), size):
            node, chunk_stats = run(workloads[start:start + size])
            stats.extend(chunk_stats)
            nodes.extend([prefix + node] * len(chunk_stats))
            if on_chunk is not None:
                on_chunk(start, chunk_stats, prefix + node)
        return stats, nodes

    def measure(self, archs: Sequence[Arch], *, arch_ids: Sequence[str] | None = None,
                artifacts: Artifacts | None = None, ray_address: str | None = None,
                on_chunk: Callable[[list[Measurement]], None] | None = None) -> list[Measurement]:
        """Measure whole subnets: one :class:`Measurement` per arch, in order (noisy ones flagged)."""
        archs = list(archs)
        ids = [str(i) for i in arch_ids] if arch_ids is not None else [""] * len(archs)
        if len(ids) != len(archs):
            raise ValueError("arch_ids must have one id per arch")

        def chunk_done(start: int, stats: list[LatencyStats], node: str) -> None:
            if on_chunk is not None:
                on_chunk([Measurement(archs[start + i], self.name, s, ids[start + i], node)
                          for i, s in enumerate(stats)])

        stats, nodes = self.measure_workloads([Subnet(a) for a in archs], artifacts=artifacts,
                                              ray_address=ray_address, on_chunk=chunk_done)
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


# --- registry: conf/device/*.yaml --------------------------------------------------------------
def device_dir() -> Path:
    return shipped_path("conf") / "device"


def list_devices() -> list[str]:
    """Names of the devices with a config in ``conf/device/``."""
    return sorted(p.stem for p in device_dir().glob("*.yaml"))


def load_device(path: str | Path) -> Device:
    """A device from a YAML file (a shipped one or a user's own)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise NasedgeError(f"{path}: no such device file") from None
    except yaml.YAMLError as exc:
        raise NasedgeError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    device = Device.from_config(data, str(path))
    if path.parent == device_dir() and device.name != path.stem:
        raise NasedgeError(f"{path}: field 'name': value {device.name!r} must match the file name {path.stem!r}")
    return device


def get_device(name: str) -> Device:
    """A device by name (``conf/device/<name>.yaml``) or by the path of a device YAML."""
    if name.endswith((".yaml", ".yml")):
        return load_device(name)
    path = device_dir() / f"{name}.yaml"
    if not path.is_file():
        raise NasedgeError(f"unknown device {name!r}; known: {', '.join(list_devices())}")
    return load_device(path)
