"""Request and response bodies of the HTTP API (pydantic), built with the configured limits.

Architectures travel as the JSON records of their space (``Arch.to_dict()`` for OFA spaces; ``ops``
or ``arch_str`` for the benchmark spaces). Their shape and choices depend on the device's space, so
they are checked by the space itself (:func:`nasedge.service.errors.parse_archs` maps its errors to 422 with the
field path, ``archs[3].kernel[5]``); the schema documents the forms.
"""

from __future__ import annotations

from types import SimpleNamespace
from collections.abc import Sequence
from typing import Annotated, Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from nasedge.predict.base import LATENCY_RANGE_MS
from nasedge.service.storage import NAME_LENGTH

DEVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"  # as nasedge.predict.profile.check_device_name (with max_length)

_OFA_ARCH = {
    "type": "object",
    "title": "OFA arch",
    "description": "An arch of an OFA-MobileNetV3 space (Arch.to_dict()): per block slot a kernel and an "
                   "expand ratio (stages x max depth, stage-major; 0 beyond a stage's depth), a depth per "
                   "stage, the input resolution.",
    "properties": {
        "space": {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH},
        "kernel": {"type": "array", "items": {"type": "integer"}, "maxItems": 256},
        "expand": {"type": "array", "items": {"type": "integer"}, "maxItems": 256},
        "depth": {"type": "array", "items": {"type": "integer"}, "maxItems": 64},
        "resolution": {"type": "integer"},
    },
    "required": ["space", "kernel", "expand", "depth", "resolution"],
    "additionalProperties": False,
}
_BENCHMARK_ARCHS = [
    {"type": "object", "title": "FBNet arch", "properties": {
        "ops": {"type": "array", "items": {"type": "integer"}, "maxItems": 64}},
     "required": ["ops"], "additionalProperties": False},
    {"type": "object", "title": "NAS-Bench-201 arch", "properties": {
        "arch_str": {"type": "string", "maxLength": 256}},
     "required": ["arch_str"], "additionalProperties": False},
]
ARCH_EXAMPLE = {"space": "ofa_mbv3_w1.2",
                "kernel": [3, 5, 7, 3, 5, 7, 0, 0, 7, 7, 3, 0, 3, 3, 0, 0, 5, 5, 5, 0],
                "expand": [3, 4, 6, 4, 6, 6, 0, 0, 4, 3, 3, 0, 6, 6, 0, 0, 3, 4, 6, 0],
                "depth": [4, 2, 3, 2, 3], "resolution": 192}

ArchRecord = Annotated[Dict[str, Any], WithJsonSchema({
    "anyOf": [_OFA_ARCH, *_BENCHMARK_ARCHS],
    "description": "An architecture of the device's search space, as JSON (nasedge.arch.Arch.to_dict() for "
                   "OFA spaces). Checked against the device's space; a wrong field is answered with 422 "
                   "naming it, e.g. archs[3].kernel[5].",
})]
DeviceName = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH, pattern=DEVICE_NAME, strict=True)]
Latency = Annotated[float, Field(ge=LATENCY_RANGE_MS[0], le=LATENCY_RANGE_MS[1], allow_inf_nan=False, strict=True,
                                 description="milliseconds")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(description="path of the offending field, e.g. archs[3].kernel[5]")
    message: str


class ErrorBody(BaseModel):
    detail: str
    errors: Optional[List[FieldError]] = None


class DeviceInfo(BaseModel):
    name: str
    space: str
    predictor: str
    version: int = Field(description="changes whenever the device is registered again (0: shipped)")
    source: str = Field(description="shipped (read-only, comes with nasedge) or registered")
    measurements: int
    quality: Dict[str, float] = Field(description="cross-validated spearman, mape (%), within_10pct, folds")
    created: str
    adaptation: str = Field("", description="how the predictor adapted to the measurements, and why (meta: the "
                                            "weights of its prior and of the models of the samples alone; empty "
                                            "for devices registered before it was recorded)")


class Registered(DeviceInfo):
    noisy_measurements: int = Field(0, description="measurements the request flagged noisy")
    warnings: List[str] = Field(default_factory=list,
                                description="what to know before trusting the profile (noisy measurements, "
                                            "reference archs allowed missing, a poor cross-validation, "
                                            "measurements far from what the others predict)")
    more_measurements: str = Field("", description="why measuring more archs of the device would pay (GET "
                                                   "/v1/spaces/{space}/archs?n=30 lists 10 after the first 20; "
                                                   "delete the device and register it with all of them); empty "
                                                   "when it would not")


class DeviceList(BaseModel):
    devices: List[DeviceInfo]


class PredictResponse(BaseModel):
    device: str
    space: str
    predictor: str
    version: int
    latency_ms: List[float]


class ReferenceArchs(BaseModel):
    space: str
    archs: List[Dict[str, Any]] = Field(description="measure these first on a new device")
    min_measurements: int
    recommended_measurements: int


class ArchsToMeasure(BaseModel):
    space: str
    archs: List[Dict[str, Any]] = Field(description="measure these on a new device, in this order, then register it")
    design: str = Field(description="active: every other arch after the reference ones chosen to pin a linear "
                                    "latency model down, the rest random | random")
    seed: int


class Health(BaseModel):
    status: str


def build(max_batch: int, max_measurements: int, spaces: Sequence[str]) -> SimpleNamespace:
    """The request models, with list lengths bounded by the settings and the known ``spaces``."""
    Space = Literal[tuple(spaces)]  # noqa: N806  (a type)

    class PredictRequest(_Strict):
        device: DeviceName = Field(examples=["jetson-orin"])
        archs: List[ArchRecord] = Field(min_length=1, max_length=max_batch,
                                        json_schema_extra={"examples": [[ARCH_EXAMPLE]]})

    class Measurement(_Strict):
        arch: ArchRecord
        latency_ms: Latency
        noisy: bool = Field(False, strict=True,  # "yes" or 1 is not a flag
                            description="flagged noisy where it was measured (column noisy of `nasedge measure` "
                                        "output); counted and reported")

    class RegisterRequest(_Strict):
        name: DeviceName
        space: Space = Field(description="search space of the archs (GET /v1/spaces lists them)")
        measurements: List[Measurement] = Field(
            min_length=1, max_length=max_measurements,
            description="measured latencies: the space's reference archs "
                        "(GET /v1/spaces/{space}/reference-archs) plus support archs (10 + 10 is the usual)")
        allow_missing_reference: bool = Field(False, strict=True, description="fit even if some reference archs "
                                                                           "are not measured (a weaker profile)")

    return SimpleNamespace(PredictRequest=PredictRequest, Measurement=Measurement,
                           RegisterRequest=RegisterRequest)
