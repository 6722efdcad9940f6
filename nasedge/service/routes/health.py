"""Liveness, readiness and Prometheus metrics."""

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from nasedge.service import schemas

log = logging.getLogger("nasedge.service")


async def healthz() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


def readyz(request: Request) -> Any:
    """Readiness: the database answers and its schema is current."""
    rt = request.app.state.runtime
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


def prometheus(request: Request) -> Response:
    """Prometheus metrics."""
    metrics, rt = request.app.state.metrics, request.app.state.runtime
    if rt is not None:
        metrics.cached_predictors.set(rt.catalog.cached_count())
    return Response(metrics.render(), media_type=metrics.content_type)


def add_routes(r: APIRouter) -> None:
    """Add liveness, readiness and metrics to ``r``."""
    r.get("/healthz", response_model=schemas.Health, tags=["health"])(healthz)
    r.get("/readyz", response_model=schemas.Health, tags=["health"],
          responses={503: {"model": schemas.ErrorBody, "description": "not ready"}})(readyz)
    r.get("/metrics", tags=["health"], response_class=Response,
          responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                           "description": "Prometheus text format"}})(prometheus)
