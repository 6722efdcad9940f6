"""Real-device latency measurement: runtimes, the measurement protocol, devices and their routing.

>>> from nasedge.measure import get_device
>>> device = get_device("cpu-ort-t1")                   # conf/device/cpu-ort-t1.yaml
>>> ms = [m.median_ms for m in device.measure(archs)]   # noisy results are flagged (m.noisy, m.reason)

Importing this package needs only torch, numpy and pyyaml (no hydra, no ray), so that standalone
scripts (the GPU campaign) can use it; ray is loaded when a Ray-routed device measures.
"""

from nasedge.measure.device import Device, DeviceConfig, get_device, list_devices, load_device
from nasedge.measure.lut import LatencyTable, measure_lookup_table, measure_lookup_table_to_file
from nasedge.measure.measurement import Measurement, measure_to_csv, read_measurements_csv, write_measurements_csv
from nasedge.measure.measurer import Measurer, RuntimeMeasurer, instantiate_measurer
from nasedge.measure.protocol import LatencyStats, ProtocolConfig, measure_interleaved
from nasedge.measure.runtime import Runtime, get_runtime, list_runtimes, register_runtime
from nasedge.measure.workload import Artifacts, Part, Subnet, Workload, arch_parts, lookup_table_parts

__all__ = [
    "Artifacts", "Device", "DeviceConfig", "LatencyStats", "LatencyTable", "Measurement", "Measurer", "Part",
    "ProtocolConfig", "Runtime", "RuntimeMeasurer", "Subnet", "Workload", "arch_parts", "get_device",
    "get_runtime", "instantiate_measurer", "list_devices", "list_runtimes", "load_device", "lookup_table_parts",
    "measure_interleaved", "measure_lookup_table", "measure_lookup_table_to_file", "measure_to_csv",
    "read_measurements_csv", "register_runtime", "write_measurements_csv",
]
