"""Settings of the predictor service: a typed dataclass (Hydra group ``service``, ``conf/service/*.yaml``).

``nasedge serve`` composes them with the rest of the configuration (``nasedge serve service.max_batch=500``);
library callers build :class:`ServiceSettings` directly and pass it to
:func:`nasedge.service.app.create_app`, which needs no Hydra.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from nasedge import home
from nasedge.errors import NasedgeError, is_finite_real, is_integer


@dataclass
class RaySettings:
    """Ray Serve deployment (``nasedge serve --ray``)."""

    num_replicas: int = 2
    max_batch_size: int = 64  # predict requests coalesced into one call by @serve.batch
    batch_wait_timeout_s: float = 0.002
    max_ongoing_requests: int = 200
    replica_cpus: float = 0.5  # CPUs Ray reserves per replica
    address: Optional[str] = None  # Ray cluster to join (null: start a local one)
    num_cpus: Optional[int] = None  # CPUs of the local Ray instance (null: all)


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


@dataclass
class ServiceSettings:
    """Everything the service needs; plain data, JSON round trip (handed to worker processes)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # any SQLAlchemy URL; SQLite runs in WAL mode (a relative SQLite path: from the working directory);
    # default: SQLite in the nasedge home (conf/service/default.yaml says the same with ${nasedge.home:...})
    db: str = field(default_factory=lambda: f"sqlite:///{home.home() / 'service' / 'profiles.db'}")
    migrate: bool = True  # `alembic upgrade head` at startup (workers of a multi-process server skip it)
    # uvicorn worker processes (each with its own predictor cache; the database is shared)
    workers: int = 1
    # salted hashes of the bearer tokens allowed to write (`nasedge serve token create` prints one)
    write_token_hashes: List[str] = field(default_factory=list)
    token_file: Optional[str] = None  # a file of such hashes, one per line (# comments)
    read_auth: bool = False  # reads need a token too (any write token, or one of read_token_hashes)
    read_token_hashes: List[str] = field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 1000  # archs per predict request
    max_measurements: int = 400  # measurements per registration (a fit grows with their cube: conf/service)
    require_reference_archs: bool = True  # a registration must include every reference arch of its space
    # latency predictor adapted at registration, its options and cross-validation folds; `nasedge serve`
    # copies them from the `predictor` group, so that a registration fits exactly as `nasedge predictor fit`
    predictor: str = "meta"
    predictor_options: Dict[str, Any] = field(default_factory=dict)
    cv_folds: int = 20
    # read-only profiles shipped with nasedge (null: latency_predictors/profiles)
    shipped_profiles_dir: Optional[str] = None
    # predictions coalesced per call across concurrent requests (one process)
    batch_max_archs: int = 2000
    # predictor calls of at most this many archs run on the event loop, larger ones in a thread (0: all)
    batch_inline_archs: int = 256
    cache_size: int = 64  # fitted predictors kept in memory per process
    gc_freeze: bool = True  # exempt what startup loaded from garbage collection (short full collections)
    log_level: str = "warning"
    ray: RaySettings = field(default_factory=RaySettings)

    def __post_init__(self) -> None:
        if isinstance(self.ray, dict):
            self.ray = RaySettings(**self.ray)
        for name in ("port", "workers", "max_body_bytes", "max_batch", "max_measurements", "cv_folds",
                     "batch_max_archs", "cache_size", "batch_inline_archs"):
            value, zero = getattr(self, name), name in ("port", "batch_inline_archs")  # 0: any free port; all
            if not _integer(value, 0 if zero else 1):
                raise NasedgeError(f"service.{name}: value {value!r} is not valid; "
                                   f"expected a {'non-negative' if zero else 'positive'} integer")
        if not isinstance(self.log_level, str) or self.log_level.lower() not in LOG_LEVELS:
            raise NasedgeError(f"service.log_level: value {self.log_level!r} is not valid; expected one of "
                               f"{', '.join(LOG_LEVELS)}")
        if not isinstance(self.host, str) or not self.host.strip():
            # an empty host makes uvicorn listen on every interface: that must be asked for (0.0.0.0 or ::)
            raise NasedgeError(f"service.host: value {self.host!r} is not valid; expected an address such as "
                               f"127.0.0.1, or 0.0.0.0 for every interface")
        ray = self.ray
        for name, ok, expected in (
                ("num_replicas", _integer(ray.num_replicas, 1), "a positive integer"),
                ("max_batch_size", _integer(ray.max_batch_size, 1), "a positive integer"),
                ("max_ongoing_requests", _integer(ray.max_ongoing_requests, 1), "a positive integer"),
                ("num_cpus", ray.num_cpus is None or _integer(ray.num_cpus, 1), "a positive integer or null"),
                ("batch_wait_timeout_s", is_finite_real(ray.batch_wait_timeout_s) and ray.batch_wait_timeout_s >= 0,
                 "a number of seconds >= 0"),
                ("replica_cpus", is_finite_real(ray.replica_cpus) and ray.replica_cpus > 0, "a number of CPUs > 0"),
                ("address", ray.address is None or (isinstance(ray.address, str) and ray.address.strip() != ""),
                 "a Ray address (auto, host:port, ray://host:port) or null")):
            if not ok:
                raise NasedgeError(f"service.ray.{name}: value {getattr(ray, name)!r} is not valid; expected {expected}")

    def check_predictor(self) -> None:
        """Refuse a predictor that cannot be made from these options (unknown, or lut without a table) now,
        not as a 422 that blames every client's registration."""
        from nasedge.predict import create_predictor
        from nasedge.spaces import list_spaces

        # registrations name their space: a predictor made for one of them (lut: its table's) is fit to serve
        spaces = ["ofa_mbv3_cifar", *(s for s in list_spaces() if s != "ofa_mbv3_cifar")]
        errors = {}
        for space in spaces:
            try:
                create_predictor(self.predictor, space, **self.predictor_options)
                return
            except NasedgeError as exc:
                errors[space] = exc
        # an error that names another space (a table's: "cannot predict space ...") points to that space's own
        named = next((s for s in spaces[1:] if repr(s) in str(errors[spaces[0]])), spaces[0])
        raise NasedgeError(f"predictor (the service fits it at each registration): {errors[named]}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ServiceSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NasedgeError(f"service.{unknown[0]}: unknown setting; known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        return cls.from_mapping(json.loads(text))


def _integer(value: Any, least: int) -> bool:
    return is_integer(value) and value >= least
