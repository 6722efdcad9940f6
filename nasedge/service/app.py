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
like ``archs[3].kernel[5]``); no response carries a stack trace (:mod:`nasedge.service.errors`).

:func:`create_app` assembles the app: configuration on ``app.state``, middleware, error handlers and
the routes of each resource (:mod:`nasedge.service.routes`); :mod:`nasedge.service.runtime` holds what
a running app has built (database, catalog, batching).
"""

import logging
from collections.abc import Callable
from typing import Optional

from fastapi import FastAPI

from nasedge import __version__
from nasedge.predict.encodings import list_encodings
from nasedge.service import schemas
from nasedge.service.auth import TokenSet, read_token_file
from nasedge.service.errors import add_error_handlers
from nasedge.service.limits import BodySizeLimit
from nasedge.service.metrics import MetricsMiddleware, ServiceMetrics
from nasedge.service.routes import devices, health, predictions, spaces
from nasedge.service.runtime import Submit, lifespan
from nasedge.service.security import read_access
from nasedge.service.settings import ServiceSettings

log = logging.getLogger("nasedge.service")


def create_app(settings: Optional[ServiceSettings] = None,
               submit: Optional[Callable[..., Submit]] = None) -> FastAPI:
    """The service app. ``submit(catalog, on_batch)`` may supply the coalescing of predict calls (Ray Serve
    does; ``on_batch(requests, archs)`` records each call); by default a
    :class:`~nasedge.service.batching.MicroBatcher` in this process does it."""
    settings = settings or ServiceSettings()
    settings.check_predictor()
    hashes = list(settings.write_token_hashes)
    if settings.token_file:
        hashes += read_token_file(settings.token_file)
    app = FastAPI(
        title="nasedge latency predictor", version=__version__, lifespan=lifespan,
        description="Latency of neural architectures on devices, predicted from a few measurements per "
                    "device (a meta-learned predictor adapted to each device). Writes need a bearer token.",
        responses={400: {"model": schemas.ErrorBody, "description": "unreadable request (e.g. not UTF-8)"},
                   413: {"model": schemas.ErrorBody, "description": "request body too large"},
                   415: {"model": schemas.ErrorBody, "description": "request body not declared as JSON"},
                   422: {"model": schemas.ErrorBody, "description": "invalid input, with the field path"}})
    state = app.state
    state.settings, state.submit, state.metrics = settings, submit, ServiceMetrics()
    state.write_tokens = TokenSet(hashes)
    state.read_tokens = TokenSet(settings.read_token_hashes, "service.read_token_hashes")
    state.references, state.runtime = {}, None  # reference archs per space; the runtime, built by lifespan
    if not state.write_tokens:
        log.warning("no write tokens configured: registrations and deletions are refused (401)")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    add_error_handlers(app)
    models = schemas.build(settings.max_batch, settings.max_measurements, list_encodings())
    read_deps, read_responses = read_access(settings.read_auth)
    health.add_routes(app.router)
    spaces.add_routes(app.router, read_deps, read_responses)
    devices.add_routes(app.router, models, read_deps, read_responses)
    predictions.add_routes(app.router, models, read_deps, read_responses)
    return app


SETTINGS_ENV = "NASEDGE_SERVICE_SETTINGS"


def create_app_from_env() -> FastAPI:
    """The app for settings passed as JSON in ``$NASEDGE_SERVICE_SETTINGS`` (uvicorn worker processes)."""
    import os

    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_ENV]))
