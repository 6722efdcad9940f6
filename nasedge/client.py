"""Python client of the latency predictor service (``nasedge serve``).

>>> client = PredictorClient("http://127.0.0.1:8000", token="nse_...")    # token: only for writes
>>> client.predict("jetson-orin", archs)                                  # ms, numpy float64
>>> archs = client.archs_to_measure("ofa_mbv3_cifar")                     # reference archs + chosen ones
>>> client.register("my-board", "ofa_mbv3_cifar", zip(archs, latency_ms)) # measured on the board
>>> predictor = client.latency_predictor("my-board")        # .predict(archs), as a DeviceProfile does

HTTP failures raise :class:`~nasedge.errors.NasedgeError` naming the status and the server's message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError, is_integer, is_real


class ServiceError(NasedgeError):
    """The service answered with an error status (``status``; ``detail`` is its message)."""

    def __init__(self, method: str, url: str, status: int, detail: str, errors: list | None = None):
        self.status, self.detail, self.errors = status, detail, errors or []
        super().__init__(f"{method} {url}: HTTP {status}: {detail}")


class ServiceTimeout(NasedgeError):
    """The service took the request but did not answer in time."""


REGISTER_TIMEOUT_S = 600.0  # a registration waits for its fit (and for the registrations before it)


class PredictorClient:
    """Talks to one service at ``url``; ``token`` is sent as a bearer token (needed for writes)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0, batch_size: int = 1000):
        import httpx

        if not is_integer(batch_size) or batch_size < 1:
            raise NasedgeError(f"batch_size: value {batch_size!r} is not valid; expected a positive integer")
        if not is_real(timeout) or not 0 < timeout < math.inf:
            raise NasedgeError(f"timeout: value {timeout!r} is not valid; expected a positive number of seconds")
        self.url = url.rstrip("/")
        self._token, self._timeout = token, timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.batch_size = int(batch_size)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    # --- plumbing --------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ReadTimeout:  # connected and sent: the service is there, its answer is late
            seconds = kwargs.get("timeout", self._timeout)
            raise ServiceTimeout(f"{method} {self.url}{path}: the predictor service did not answer within "
                                 f"{seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise NasedgeError(f"cannot reach the predictor service at {self.url}: {type(exc).__name__}: "
                               f"{exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                detail, errors = str(body.get("detail", response.text)), body.get("errors")
            except ValueError:
                detail, errors = response.text.strip()[:200] or response.reason_phrase, None
            raise ServiceError(method, f"{self.url}{path}", response.status_code, detail, errors)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:  # a redirect or a proxy's page: not the service's answer
            raise NasedgeError(f"{method} {self.url}{path}: HTTP {response.status_code}: not an answer of the "
                               f"predictor service (no JSON)") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PredictorClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- API -------------------------------------------------------------------------------------------
    def ready(self) -> bool:
        """Whether the service is ready (database reachable, schema current)."""
        try:
            self._call("GET", "/readyz")
        except NasedgeError:
            return False
        return True

    def devices(self) -> list[dict]:
        """Devices with a profile: name, space, predictor, version, source, measurements, quality, created."""
        return self._call("GET", "/v1/devices")["devices"]

    def device(self, name: str) -> dict:
        return self._call("GET", f"/v1/devices/{_segment('device', name)}")

    def spaces(self) -> list[str]:
        return self._call("GET", "/v1/spaces")["spaces"]

    def reference_archs(self, space: str) -> list:
        """The archs to measure first on a new device of ``space`` (Arch objects for OFA spaces)."""
        return _archs(self._call("GET", f"/v1/spaces/{_segment('space', space)}/reference-archs"))

    def archs_to_measure(self, space: str, n: int = 20, seed: int = 0, random: bool = False) -> list:
        """The ``n`` archs to measure on a new device of ``space`` before :meth:`register`: the reference archs,
        then the active choice (``random``: random ones), as ``nasedge predictor archs`` lists them."""
        return _archs(self._call("GET", f"/v1/spaces/{_segment('space', space)}/archs",
                                 params={"n": n, "seed": seed, "design": "random" if random else "active"}))

    def predict(self, device: str, archs: Sequence) -> np.ndarray:
        """Predicted latency of each arch on ``device``, milliseconds (float64)."""
        return self.predict_with_info(device, archs)[0]

    def predict_with_info(self, device: str, archs: Sequence) -> tuple[np.ndarray, dict]:
        """Latencies and what produced them: ``{"device", "space", "predictor", "version"}``."""
        records = _records(archs)
        out, info = [], {}
        for start in range(0, len(records), self.batch_size):
            body = self._call("POST", "/v1/predict",
                              json={"device": device, "archs": records[start:start + self.batch_size]})
            out.extend(body.pop("latency_ms"))
            if info and body["version"] != info["version"]:
                raise NasedgeError(f"device {device!r} was registered again in the service at {self.url} "
                                   f"while {len(records)} archs were being predicted; predict them again")
            info = body
        return np.asarray(out, dtype=np.float64), info

    def register(self, name: str, space: str, measurements: Iterable, *, noisy: Sequence[bool] | None = None,
                 allow_missing_reference: bool = False) -> dict:
        """Register a device from ``(arch, latency_ms)`` pairs (``noisy``: the measurements flagged noisy where
        they were taken); the stored profile's summary and quality, the noisy count, warnings, the predictor's
        adaptation and why more measurements would pay (``more_measurements``, empty if they would not)."""
        rows = [{"arch": _record(a), "latency_ms": _latency(i, ms)} for i, (a, ms) in enumerate(_pairs(measurements))]
        for row, flag in zip(rows, () if noisy is None else noisy):
            row["noisy"] = bool(flag)
        body = {"name": name, "space": space, "measurements": rows,
                **({"allow_missing_reference": True} if allow_missing_reference else {})}
        try:
            return self._call("POST", "/v1/devices", json=body,
                              timeout=max(self._timeout, REGISTER_TIMEOUT_S))
        except ServiceTimeout as exc:
            raise ServiceTimeout(f"{exc}; the service fits a profile to every registration (about 20 s for 200 "
                               f"measurements on 2 cores) and may still store it: GET /v1/devices/{name} "
                               f"tells") from None

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/v1/devices/{_segment('device', name)}")

    def latency_predictor(self, device: str) -> RemotePredictor:
        """``device``'s predictor in the service, usable where a local one is: ``.predict(archs)`` (or a call)
        gives milliseconds as a float64 array; ``.name``, ``.device``, ``.space``, ``.version``."""
        info = self.device(device)
        return RemotePredictor(self, device, info["space"], info["predictor"], info["version"])

    # pickled (e.g. to Ray workers) as its settings; the connection pool is rebuilt on arrival
    def __getstate__(self) -> dict:
        return {"url": self.url, "token": self._token, "timeout": self._timeout, "batch_size": self.batch_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


class RemotePredictor:
    """A device's latency predictor in the service: what search needs of a DeviceProfile.

    Pinned to the profile version it was created for: if the device is registered again meanwhile, the
    next prediction raises :class:`~nasedge.errors.NasedgeError` instead of mixing two predictors' numbers.
    """

    def __init__(self, client: PredictorClient, device: str, space: str, predictor: str, version: int):
        self.client, self.device, self.space, self.version = client, device, space, version
        self.name = predictor  # as LatencyPredictor.name: the predictor's registry key

    def predict(self, archs: Sequence) -> np.ndarray:
        """Predicted latency on this device, milliseconds (float64, one per arch)."""
        archs = list(archs)  # a generator too, as a local predictor takes
        if not archs:
            return np.zeros(0)
        latency, info = self.client.predict_with_info(self.device, [_record(a, self.space) for a in archs])
        if info["version"] != self.version:
            raise NasedgeError(f"device {self.device!r} was registered again in the service at "
                               f"{self.client.url} (profile version {self.version} -> {info['version']}); "
                               f"create a new predictor with latency_predictor({self.device!r})")
        return latency

    __call__ = predict  # a search constraint is a batched callable: archs -> ms

    def __repr__(self) -> str:
        return (f"RemotePredictor({self.client.url!r}, {self.device!r}, space={self.space!r}, "
                f"predictor={self.name!r}, version={self.version})")


def _record(arch: Any, space: str | None = None) -> dict:
    if isinstance(arch, Arch):
        return arch.to_dict()
    if isinstance(arch, Mapping):
        return dict(arch)
    if space is not None:  # a benchmark space's item (a tuple of op indices)
        from nasedge.predict.encodings import get_encoding

        return get_encoding(space).to_record(arch)
    raise NasedgeError(f"cannot send {type(arch).__name__} {arch!r} as an arch; "
                       f"pass an Arch or its JSON dict")


def _segment(what: str, name: Any) -> str:
    """``name`` as one path segment: quoted, so that ``a#b`` or ``a/../b`` cannot name another resource (a delete
    of ``victim#x`` deleted ``victim``)."""
    if not isinstance(name, str) or not name:
        raise NasedgeError(f"{what} name {name!r} is not valid; expected a non-empty string")
    return quote(name, safe="")


def _pairs(measurements: Iterable) -> Iterable[tuple[Any, Any]]:
    for i, pair in enumerate(measurements):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise NasedgeError(f"measurements[{i}]: {pair!r} is not valid; expected an (arch, latency_ms) pair")
        yield pair


def _latency(i: int, ms: Any) -> float:
    """A latency JSON can carry: NaN and infinity cannot be sent (the encoder failed)."""
    try:
        value = float(ms)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or isinstance(ms, bool):
        raise NasedgeError(f"measurements[{i}].latency_ms: value {ms!r} is not valid; expected a finite number of "
                           f"milliseconds")
    return value


def _records(archs: Sequence) -> list[dict]:
    return [_record(a) for a in archs]


def _archs(body: dict) -> list:
    """The archs of an answer listing them (``{"space", "archs": [records]}``), parsed in its space."""
    from nasedge.predict.encodings import get_encoding

    enc = get_encoding(body["space"])
    return [enc.parse(rec) for rec in body["archs"]]
