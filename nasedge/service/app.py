"""The HTTP API: a FastAPI app built from :class:`~nasedge.service.settings.ServiceSettings`.

=======================================  =================================================================
``POST /v1/predict``                     device + archs -> latency in ms per arch, and the predictor used
``GET /v1/devices``                      devices with a profile (shipped and registered)
``GET /v1/devices/{name}``               one of them
``POST /v1/devices``                     register: name, space, measurements -> fitted profile (token)
``DELETE /v1/devices/{name}``            delete a registered device (token)
``GET /v1/spaces``                       search spaces
``GET /v1/spaces/{space}/reference-archs``  what to measure first on a new device
``GET /healthz``, ``GET /readyz``        liveness; readiness (database reachable, schema current)
``GET /metrics``                         Prometheus
=======================================  =================================================================

Errors are JSON ``{"detail": "<one line>"}`` (422 adds ``errors``: ``[{field, message}]`` with paths
like ``archs[3].kernel[5]``); no response carries a stack trace.
"""

# no `from __future__ import annotations`: FastAPI reads the request models (built per app) from the
# endpoints' annotations at run time
import asyncio
import functools
import gc
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, Optional

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nasedge import __version__
from nasedge.errors import ArchError, NasedgeError
from nasedge.predict import predictor_class
from nasedge.predict.encodings import LatencyEncoding, get_encoding, list_encodings
from nasedge.predict.profile import fit_profile, reference_archs
from nasedge.service import schemas
from nasedge.service.auth import TokenSet, read_token_file
from nasedge.service.batching import MicroBatcher
from nasedge.service.catalog import Catalog, DeviceChanged, DeviceInfo, PredictJob, Prediction, UnknownDevice
from nasedge.service.limits import BodySizeLimit
from nasedge.service.metrics import MetricsMiddleware, ServiceMetrics
from nasedge.service.settings import ServiceSettings
from nasedge.service.storage import DeviceExists, Storage

log = logging.getLogger("nasedge.service")

Submit = Callable[[PredictJob], Awaitable[Prediction]]
_FIELD = re.compile(r"field '([^']+)'")
_MAX_ERRORS = 20
RECOMMENDED_MEASUREMENTS = 20


class FieldErrors(Exception):
    """Invalid input: ``[(field path, message)]``, answered with 422."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__(errors[0][1])


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<body>"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _arch_error(prefix: str, exc: NasedgeError) -> tuple[str, str]:
    if isinstance(exc, ArchError):
        path = prefix if exc.field == "<root>" else f"{prefix}.{exc.field}"
        if exc.value is None and "required" in str(exc.allowed):
            return path, f"{path}: missing; expected {exc.allowed}"
        return path, f"{path}: value {_short(repr(exc.value), 60)} is not allowed; expected {exc.allowed}"
    m = _FIELD.search(str(exc))
    path = f"{prefix}.{m.group(1)}" if m else prefix
    return path, _short(f"{path}: {_FIELD.sub('', str(exc)).lstrip(': ')}", 240)


def parse_archs(enc: LatencyEncoding, records: Sequence[dict], prefix: Callable[[int], str]) -> list:
    """Items of ``enc`` from JSON records; :class:`FieldErrors` with the path of every bad one."""
    items, errors = [], []
    for i, rec in enumerate(records):
        try:
            items.append(enc.parse(rec))
        except NasedgeError as exc:
            errors.append(_arch_error(prefix(i), exc))
            if len(errors) == _MAX_ERRORS:
                break
    if errors:
        raise FieldErrors(errors)
    return items


@functools.lru_cache(maxsize=None)
def _known_encoding(space: str) -> LatencyEncoding | None:
    return get_encoding(space) if space in list_encodings() else None


def _encoding(space: str, field: str | None) -> LatencyEncoding:
    """The encoding of ``space`` (one object per space: it caches rows); unknown: 404 or 422 on ``field``."""
    enc = _known_encoding(space)
    if enc is None:
        message = f"unknown space {space!r}; known: {', '.join(list_encodings())}"
        if field is None:
            raise HTTPException(404, message)
        raise FieldErrors([(field, f"{field}: {message}")])
    return enc


def _device_info(d: DeviceInfo) -> dict:
    return asdict(d)


@dataclass
class _Runtime:
    """What the app holds while it runs (built by the lifespan, torn down with it)."""

    storage: Storage
    catalog: Catalog
    submit: Submit
    fit_executor: ThreadPoolExecutor
    batcher: Optional[MicroBatcher] = None


def create_app(settings: ServiceSettings | None = None,
               submit: Callable[..., Submit] | None = None) -> FastAPI:
    """The service app. ``submit(catalog, on_batch)`` may supply the coalescing of predict calls (Ray Serve
    does; ``on_batch(requests, archs)`` records each call); by default a
    :class:`~nasedge.service.batching.MicroBatcher` in this process does it."""
    settings = settings or ServiceSettings()
    predictor_class(settings.predictor)  # unknown predictor: fail now, not at the first registration
    hashes = list(settings.write_token_hashes)
    if settings.token_file:
        hashes += read_token_file(settings.token_file)
    write_tokens = TokenSet(hashes)
    read_tokens = TokenSet(settings.read_token_hashes, "service.read_token_hashes")
    if not write_tokens:
        log.warning("no write tokens configured: registrations and deletions are refused (401)")
    models = schemas.build(settings.max_batch, settings.max_measurements, list_encodings())
    metrics = ServiceMetrics()
    holder: dict[str, _Runtime] = {}
    references: dict[str, list] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        storage = Storage(settings.db)
        if settings.migrate:
            await asyncio.to_thread(storage.migrate)
        catalog = Catalog(storage, settings.shipped_profiles_dir, settings.cache_size)
        await asyncio.to_thread(catalog.warm_shipped)
        if settings.gc_freeze:
            # what startup loaded lives as long as the process: out of the collector's sight, so that full
            # collections (tens of ms over every object, each stalling all requests in flight) stay short
            gc.collect()
            gc.freeze()
        batcher = None
        if submit is None:
            batcher = MicroBatcher(catalog.predict, lambda job: len(job.archs), settings.batch_max_archs,
                                   metrics.observe_batch, settings.batch_inline_archs)
            run = batcher.submit
        else:
            run = submit(catalog, metrics.observe_batch)
        fit_executor = ThreadPoolExecutor(1, thread_name_prefix="nasedge-fit")
        holder["rt"] = _Runtime(storage, catalog, run, fit_executor, batcher)
        try:
            yield
        finally:
            rt = holder.pop("rt")
            if rt.batcher is not None:
                rt.batcher.close()
            rt.fit_executor.shutdown(wait=False, cancel_futures=True)
            storage.close()
            if settings.gc_freeze:
                gc.unfreeze()  # an app embedded in a longer-lived process gives its objects back

    def runtime() -> _Runtime:
        rt = holder.get("rt")
        if rt is None:
            raise HTTPException(503, "the service is starting or stopping")
        return rt

    app = FastAPI(
        title="nasedge latency predictor", version=__version__, lifespan=lifespan,
        description="Latency of neural architectures on devices, predicted from a few measurements per "
                    "device (a meta-learned predictor adapted to each device). Writes need a bearer token.",
        responses={400: {"model": schemas.ErrorBody, "description": "unreadable request (e.g. not UTF-8)"},
                   413: {"model": schemas.ErrorBody, "description": "request body too large"},
                   422: {"model": schemas.ErrorBody, "description": "invalid input, with the field path"}})
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    bearer = HTTPBearer(auto_error=False, description="a token from `nasedge serve token create`")

    def _unauthorized(message: str) -> HTTPException:
        return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})

    def writer(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        # sync: FastAPI runs it in a thread, so a first-time scrypt check does not stall the event loop
        if not write_tokens:
            raise _unauthorized("writes are disabled: the server has no write tokens configured")
        if credentials is None:
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        if not write_tokens.verify(credentials.credentials):
            raise _unauthorized("invalid bearer token")

    async def reader(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if credentials is None:
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        token = credentials.credentials
        ok = await run_in_threadpool(lambda: read_tokens.verify(token) or write_tokens.verify(token))
        if not ok:
            raise _unauthorized("invalid bearer token")

    # reads open: no dependency at all (it would cost every prediction request the dependency machinery)
    read_deps = [Depends(reader)] if settings.read_auth else []
    read_responses = ({401: {"model": schemas.ErrorBody, "description": "missing or invalid bearer token"}}
                      if settings.read_auth else {})
    not_found = {404: {"model": schemas.ErrorBody, "description": "no such device"}}
    write_responses = {401: {"model": schemas.ErrorBody, "description": "missing or invalid bearer token"}}

    # --- errors: one JSON line each, never a stack trace ------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors()[:_MAX_ERRORS]:
            if e.get("type") == "json_invalid":
                where = e.get("loc", ("body", "?"))[-1]
                errors.append(("<body>", f"<body>: invalid JSON at character {where}: "
                                         f"{e.get('ctx', {}).get('error', 'decode error')}"))
                continue
            loc = [p for p in e.get("loc", ()) if p not in ("body", "path", "query", "header")]
            path = _path(loc)
            errors.append((path, f"{path}: {e.get('msg', 'invalid')}"))
        return _field_errors(FieldErrors(errors or [("<body>", "invalid request")]))

    @app.exception_handler(FieldErrors)
    async def _fields(_: Request, exc: FieldErrors) -> JSONResponse:
        return _field_errors(exc)

    def _field_errors(exc: FieldErrors) -> JSONResponse:
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return JSONResponse({"detail": exc.errors[0][1] + more,
                             "errors": [{"field": f, "message": m} for f, m in exc.errors]}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the methods of one route; a path may have several
            methods = sorted({m for r in app.routes if getattr(r, "methods", None)
                              and r.path_regex.match(request.url.path) for m in r.methods})
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(UnknownDevice)
    async def _unknown(_: Request, exc: UnknownDevice) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(DeviceChanged)
    async def _changed(_: Request, exc: DeviceChanged) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    # --- health ----------------------------------------------------------------------------------------
    @app.get("/healthz", response_model=schemas.Health, tags=["health"])
    async def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Health, tags=["health"],
             responses={503: {"model": schemas.ErrorBody, "description": "not ready"}})
    def readyz() -> Any:
        """Readiness: the database answers and its schema is current."""
        rt = holder.get("rt")
        if rt is None:
            return JSONResponse({"detail": "starting"}, status_code=503)
        try:
            current, head = rt.storage.revision()
        except Exception as exc:  # noqa: BLE001  (any database failure means not ready)
            log.warning("readiness: database unreachable: %s", exc)
            return JSONResponse({"detail": "database unreachable"}, status_code=503)
        if current != head:
            return JSONResponse({"detail": f"database schema at {current}, expected {head}"}, status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text format"}})
    def prometheus() -> Response:
        """Prometheus metrics."""
        rt = holder.get("rt")
        if rt is not None:
            metrics.cached_predictors.set(rt.catalog.cached_count())
        return Response(metrics.render(), media_type=metrics.content_type)

    # --- spaces ----------------------------------------------------------------------------------------
    @app.get("/v1/spaces", tags=["spaces"], dependencies=read_deps, responses=read_responses)
    async def spaces() -> dict[str, list[str]]:
        """Search spaces whose archs the service can predict."""
        return {"spaces": list_encodings()}

    def _references(space: str) -> tuple[LatencyEncoding, list]:
        enc = _encoding(space, None)
        if enc.name not in references:
            try:
                references[enc.name] = reference_archs(enc)
            except NasedgeError as exc:
                raise HTTPException(404, str(exc)) from None
        return enc, references[enc.name]

    @app.get("/v1/spaces/{space}/reference-archs", response_model=schemas.ReferenceArchs, tags=["spaces"],
             dependencies=read_deps,
             responses={**read_responses, 404: {"model": schemas.ErrorBody, "description": "unknown space"}})
    def space_reference_archs(space: str = Path(max_length=schemas.NAME_LENGTH)) -> dict:
        """The archs to measure first on a new device (its hardware embedding), then add support archs."""
        enc, refs = _references(space)
        return {"space": enc.name, "archs": [enc.to_record(a) for a in refs],
                "min_measurements": max(len(refs) if settings.require_reference_archs else 0,
                                        predictor_class(settings.predictor).min_samples),
                "recommended_measurements": max(RECOMMENDED_MEASUREMENTS, len(refs))}

    # --- devices ---------------------------------------------------------------------------------------
    name_param = Path(min_length=1, max_length=schemas.NAME_LENGTH, pattern=schemas.DEVICE_NAME)

    @app.get("/v1/devices", response_model=schemas.DeviceList, tags=["devices"], dependencies=read_deps,
             responses=read_responses)
    def devices() -> dict:
        """Devices with a latency profile: shipped with nasedge, and registered here."""
        return {"devices": [_device_info(d) for d in runtime().catalog.devices()]}

    @app.get("/v1/devices/{name}", response_model=schemas.DeviceInfo, tags=["devices"],
             dependencies=read_deps, responses={**read_responses, **not_found})
    def device(name: str = name_param) -> dict:
        """One device's profile: space, predictor, version, cross-validated quality."""
        return _device_info(runtime().catalog.info(name))

    @app.post("/v1/devices", status_code=201, response_model=schemas.DeviceInfo, tags=["devices"],
              dependencies=[Depends(writer)],
              responses={**write_responses,
                         409: {"model": schemas.ErrorBody, "description": "the name is taken (or shipped)"}})
    async def register(body: models.RegisterRequest) -> dict:
        """Register a device from its measurements: adapts the meta-learned predictor and stores the profile.

        Include every reference arch of the space (GET /v1/spaces/{space}/reference-archs) plus support
        archs; 20 measurements in all is the usual. Fitting takes seconds; the answer carries the
        profile's cross-validated quality. The profile is the one `nasedge predictor fit` makes offline
        from the same measurements.
        """
        rt = runtime()
        name = body.name
        if rt.catalog.is_shipped(name):
            raise HTTPException(409, f"device {name!r} is shipped with nasedge and cannot be registered "
                                     f"again; choose another name")
        enc = _encoding(body.space, "space")
        archs = parse_archs(enc, [m.arch for m in body.measurements], lambda i: f"measurements[{i}].arch")
        latency = [m.latency_ms for m in body.measurements]
        if settings.require_reference_archs:
            _, refs = _references(enc.name)
            measured = set(archs)
            missing = [r for r in refs if r not in measured]
            if missing:
                raise FieldErrors([("measurements", (
                    f"measurements: {len(missing)} of the {len(refs)} reference archs of space {enc.name!r} "
                    f"are not measured (GET /v1/spaces/{enc.name}/reference-archs lists them)"))])
        need = predictor_class(settings.predictor).min_samples
        if len(archs) < need:
            raise FieldErrors([("measurements", f"measurements: {len(archs)} given; predictor "
                                                f"{settings.predictor!r} needs at least {need}")])
        if await asyncio.to_thread(rt.storage.version, name) is not None:
            raise HTTPException(409, f"device {name!r} is already registered; delete it first to register it "
                                     f"again")

        def fit():
            return fit_profile(name, enc, archs, latency, settings.predictor, cv_folds=settings.cv_folds,
                               **settings.predictor_options)

        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            profile = await loop.run_in_executor(rt.fit_executor, fit)
        except NasedgeError as exc:
            metrics.registrations.labels("invalid").inc()
            raise FieldErrors([("measurements", f"measurements: {exc}")]) from None
        metrics.fit_seconds.observe(loop.time() - start)
        try:
            version = await asyncio.to_thread(rt.storage.add, profile)
        except DeviceExists as exc:
            metrics.registrations.labels("conflict").inc()
            raise HTTPException(409, str(exc)) from None
        rt.catalog.forget(name)
        metrics.registrations.labels("created").inc()
        log.info("registered device %s (version %d, %d measurements)", name, version, len(archs))
        return _device_info(DeviceInfo(name, profile.space, profile.predictor, version, "registered",
                                       len(profile.measurements), dict(profile.quality), profile.created))

    @app.delete("/v1/devices/{name}", status_code=204, tags=["devices"], dependencies=[Depends(writer)],
                responses={**write_responses, **not_found,
                           403: {"model": schemas.ErrorBody, "description": "shipped devices are read-only"}})
    def delete_device(name: str = name_param) -> Response:
        """Delete a registered device and its measurements."""
        rt = runtime()
        if rt.catalog.is_shipped(name):
            raise HTTPException(403, f"device {name!r} is shipped with nasedge (read-only)")
        if not rt.storage.delete(name):
            raise UnknownDevice(name)
        rt.catalog.forget(name)
        return Response(status_code=204)

    # --- predictions -----------------------------------------------------------------------------------
    @app.post("/v1/predict", response_model=schemas.PredictResponse, tags=["predict"],
              dependencies=read_deps,
              responses={**read_responses, **not_found,
                         409: {"model": schemas.ErrorBody, "description": "device re-registered meanwhile"}})
    async def predict(body: models.PredictRequest) -> dict:
        """Latency in milliseconds of each arch on the device, and the predictor (profile version) used."""
        rt = runtime()
        space = rt.catalog.cached_space(body.device)
        if space is None:
            space = (await asyncio.to_thread(rt.catalog.profile, body.device, False))[1].space
        archs = parse_archs(_encoding(space, None), body.archs, lambda i: f"archs[{i}]")
        result = await rt.submit(PredictJob(body.device, space, archs))
        metrics.predicted_archs.inc(len(archs))
        return {"device": body.device, "space": space, "predictor": result.predictor,
                "version": result.version, "latency_ms": result.latency_ms.tolist()}

    return app


SETTINGS_ENV = "NASEDGE_SERVICE_SETTINGS"


def create_app_from_env() -> FastAPI:
    """The app for settings passed as JSON in ``$NASEDGE_SERVICE_SETTINGS`` (uvicorn worker processes)."""
    import os

    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_ENV]))
