"""Latency predictors: a registry of interchangeable :class:`LatencyPredictor` implementations.

>>> from nasedge.spaces import get_space
>>> p = create_predictor("flops", get_space("ofa_mbv3_w1.2")).fit(archs, latency_ms)
>>> p.predict(candidates)            # milliseconds

``flops``: analytic MACs, linearly calibrated on the target's samples. ``lut``: sum of per-block
latencies from a table measured on the device, calibrated the same way. ``regressor``: a per-device
model on cost features. ``meta``: a model meta-trained over many devices (hardware embedding from
reference-arch latencies), adapted to the target with a few samples. ``totals``: a per-device model on the
cost features summed per kind (one of ``meta``'s candidates where its prior does not fit). Device profiles (a fitted
predictor stored as JSON) live in :mod:`nasedge.predict.profile`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasedge.errors import NasedgeError
from nasedge.predict.base import LatencyPredictor, PredictorConfig
from nasedge.predict.encodings import LatencyEncoding, get_encoding
from nasedge.registry import Entry, Registry, class_problem
from nasedge.spaces import SearchSpace

__all__ = ["LatencyPredictor", "create_predictor", "list_predictors", "predictor_class", "predictor_config",
           "predictor_entry", "predictor_from_dict", "get_encoding", "register_predictor"]


def _predictor_problem(obj: object) -> str | None:
    """What keeps a registered target from being a latency predictor: a LatencyPredictor subclass with every
    abstract method (``_state``, ``_load_state``, ...), its ``Config`` a PredictorConfig dataclass."""
    return class_problem(obj, LatencyPredictor, ("Config", PredictorConfig))


_PREDICTORS = Registry("latency predictor", {
    "flops": "nasedge.predict.flops:FlopsPredictor",
    "lut": "nasedge.predict.lut:LUTPredictor",
    "regressor": "nasedge.predict.regressor:RegressorPredictor",
    "meta": "nasedge.predict.meta:MetaPredictor",
    "totals": "nasedge.predict.totals:TotalsPredictor",
}, sort=False, check=_predictor_problem)


def register_predictor(name: str, target: str | type[LatencyPredictor], *, requires: tuple[str, ...] = (),
                       install_hint: str = "") -> None:
    """Add a latency predictor: its class, or ``"package.module:Class"`` to import it only when used."""
    _PREDICTORS.register(name, target, requires=requires, install_hint=install_hint)


def list_predictors() -> list[str]:
    """Registry keys of the latency predictors (nasedge's own first, then those of plugins)."""
    return _PREDICTORS.names()


def predictor_class(name: str) -> type[LatencyPredictor]:
    return _PREDICTORS.load(name)


def predictor_entry(name: str) -> Entry:
    """The registry entry of ``name`` (its target and the plugin that registered it), nothing imported."""
    return _PREDICTORS.entry(name)


def predictor_config(node: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The predictor a composed Hydra ``predictor`` node (``cfg.predictor``, resolved) names, and its own options."""
    name = node.get("name")
    if not name:  # the schema's default: a YAML (a plugin's) that names none, or predictor.name= emptied
        raise NasedgeError("predictor config: field 'name' is not set; a predictor's YAML "
                           "(conf/predictor/<option>.yaml) names the predictor it configures (name: meta, ...)")
    return str(name), predictor_class(str(name)).options_from_config(node)


def create_predictor(name: str, space: SearchSpace | LatencyEncoding | str, **options: Any) -> LatencyPredictor:
    """An unfitted predictor ``name`` for archs of ``space`` (a search space, its name, a benchmark space)."""
    return predictor_class(name)(space, **options)


def predictor_from_dict(state: dict[str, Any]) -> LatencyPredictor:
    """Rebuild any fitted predictor from its ``to_dict()``."""
    if not isinstance(state, dict) or "predictor" not in state:
        raise NasedgeError("predictor state is not valid: expected an object with a 'predictor' field")
    return predictor_class(state["predictor"]).from_dict(state)
