"""Latency predictions: archs on a device, through the device's profile."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from nasedge.service import schemas
from nasedge.service.catalog import PredictJob
from nasedge.service.errors import FieldErrors, parse_archs
from nasedge.service.routes import with_body
from nasedge.service.routes.devices import NOT_FOUND
from nasedge.service.routes.spaces import space_encoding
from nasedge.service.runtime import runtime


async def predict(request: Request, body) -> dict:  # body: the app's PredictRequest (see add_routes)
    """Latency in milliseconds of each arch on the device, and the predictor (profile version) used."""
    rt = runtime(request)
    def parse(space: str) -> list:
        return parse_archs(space_encoding(space, None), body.archs, lambda i: f"archs[{i}]")

    cached = rt.catalog.cached_space(body.device)
    space = cached or (await asyncio.to_thread(rt.catalog.profile, body.device, False))[1].space
    try:
        archs = parse(space)
    except FieldErrors:
        # another process may have deleted the device or registered it again for another space: the
        # database, not this process's cache, says which space the archs must be of (asked only on errors)
        if cached is None or rt.catalog.is_shipped(body.device):
            raise
        fresh = (await asyncio.to_thread(rt.catalog.profile, body.device, True))[1].space
        if fresh == space:
            raise
        space = fresh
        archs = parse(space)
    result = await rt.submit(PredictJob(body.device, space, archs))
    request.app.state.metrics.predicted_archs.inc(len(archs))
    return {"device": body.device, "space": space, "predictor": result.predictor,
            "version": result.version, "latency_ms": result.latency_ms.tolist()}


def add_routes(r: APIRouter, models: Any, read_deps: list, read_responses: dict) -> None:
    """Add the prediction route to ``r``, guarded by ``read_deps``."""
    r.post("/v1/predict", response_model=schemas.PredictResponse, tags=["predict"], dependencies=read_deps,
           responses={**read_responses, **NOT_FOUND,
                      409: {"model": schemas.ErrorBody, "description": "device re-registered meanwhile"}},
           )(with_body(predict, models.PredictRequest))
