"""Devices with a latency profile: list and show them; register one from its measurements, delete it."""

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from nasedge.errors import NasedgeError
from nasedge.predict.profile import (DeviceProfile, MeasurementCheck, check_measurements, check_no_case_twin,
                                    fit_profile)
from nasedge.service import schemas
from nasedge.service.catalog import REGISTERED, DeviceInfo, UnknownDevice, profile_info
from nasedge.service.errors import FieldErrors, parse_archs
from nasedge.service.routes import with_body
from nasedge.service.routes.spaces import space_encoding, space_references
from nasedge.service.runtime import runtime
from nasedge.service.security import FORBIDDEN_TO_READERS, UNAUTHORIZED, writer
from nasedge.service.storage import DeviceExists

log = logging.getLogger("nasedge.service")

NOT_FOUND = {404: {"model": schemas.ErrorBody, "description": "no such device"}}
_NAME = Path(min_length=1, max_length=schemas.NAME_LENGTH, pattern=schemas.DEVICE_NAME)


def _device_info(d: DeviceInfo) -> dict:
    return asdict(d)


def devices(request: Request) -> dict:
    """Devices with a latency profile: shipped with nasedge, and registered here."""
    return {"devices": [_device_info(d) for d in runtime(request).catalog.devices()]}


def device(request: Request, name: str = _NAME) -> dict:
    """One device's profile: space, predictor, version, cross-validated quality, how the predictor adapted."""
    return _device_info(runtime(request).catalog.info(name))


async def register(request: Request, body) -> dict:  # body: the app's RegisterRequest (see add_routes)
    """Register a device from its measurements: adapts the meta-learned predictor and stores the profile.

    Include every reference arch of the space (GET /v1/spaces/{space}/reference-archs) plus support
    archs; 20 measurements in all is the usual (``allow_missing_reference: true`` fits without some
    reference archs). Fitting takes seconds; the answer carries the profile's cross-validated quality,
    how many measurements were flagged noisy, warnings, how the predictor adapted and whether more
    measurements would pay. The profile and the rule are those of `nasedge predictor fit` offline from
    the same measurements. The same registration sent again (a retry after a timeout, even while the first
    is still fitting) is answered 200 with the stored profile; other measurements under a taken name, or a
    name that differs from a registered or shipped one only in case, 409.
    """
    rt, settings, metrics = runtime(request), request.app.state.settings, request.app.state.metrics
    name = body.name
    if rt.catalog.is_shipped(name):
        raise HTTPException(409, f"device {name!r} is shipped with nasedge and cannot be registered "
                                 f"again; choose another name")
    try:
        check_no_case_twin(name, rt.catalog.shipped_names())
    except NasedgeError as exc:
        raise HTTPException(409, str(exc)) from None
    enc = space_encoding(body.space, "space")
    archs = parse_archs(enc, [m.arch for m in body.measurements], lambda i: f"measurements[{i}].arch")
    latency = [m.latency_ms for m in body.measurements]
    try:  # the rule `nasedge predictor fit` applies too
        checked = check_measurements(
            enc, archs, [m.noisy for m in body.measurements], predictor=settings.predictor,
            allow_missing_reference=body.allow_missing_reference or not settings.require_reference_archs,
            listed_by=f"GET /v1/spaces/{enc.name}/reference-archs", allow_by="allow_missing_reference: true",
            references=space_references(request, enc.name)[1] if settings.require_reference_archs else [])
    except NasedgeError as exc:
        raise FieldErrors([("measurements", f"measurements: {exc}")]) from None
    records = [(enc.to_record(a), float(v)) for a, v in zip(archs, latency)]

    async def stored() -> JSONResponse | None:
        """The answer if ``name`` is registered: this registration (a retry: 200) or another (409); else None."""
        existing = await asyncio.to_thread(rt.storage.get, name)
        if existing is None:
            return None
        version, profile = existing
        if (profile.space, profile.predictor, profile.measurements) == (enc.name, settings.predictor, records):
            # a client whose registration timed out cannot tell whether it was stored: the same one again is
            # answered with what is stored, not with "taken"
            return JSONResponse(_registered(version, profile, checked), status_code=200)
        metrics.registrations.labels("conflict").inc()
        raise HTTPException(409, f"device {name!r} is already registered with other measurements; delete it "
                                 f"first to register it again")

    def fit():
        return fit_profile(name, enc, archs, latency, settings.predictor, cv_folds=settings.cv_folds,
                           **settings.predictor_options)

    # a retry sent while the first is still fitting waits for it here, and is answered with what it stored
    async with rt.registration_lock(name):
        if (answer := await stored()) is not None:
            return answer
        try:  # the rule of `nasedge devices add`
            check_no_case_twin(name, await asyncio.to_thread(rt.storage.names_like, name))
        except NasedgeError as exc:
            metrics.registrations.labels("conflict").inc()
            raise HTTPException(409, str(exc)) from None
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
        except DeviceExists as exc:  # registered meanwhile by another process, which the lock does not reach:
            # this name (a retry: the stored answer), or a case twin (the database's index refuses it; the message
            # is check_no_case_twin's, as above)
            if (answer := await stored()) is not None:
                return answer
            metrics.registrations.labels("conflict").inc()
            raise HTTPException(409, str(exc)) from None
    rt.catalog.forget(name)
    metrics.registrations.labels("created").inc()
    log.info("registered device %s (version %d, %d measurements)", name, version, len(archs))
    return _registered(version, profile, checked)


def _registered(version: int, profile: DeviceProfile, checked: MeasurementCheck) -> dict:
    return {**_device_info(profile_info(version, profile, REGISTERED)),
            "noisy_measurements": checked.noisy, "warnings": [*checked.warnings(), *profile.warnings()],
            "more_measurements": profile.more_measurements()}


def delete_device(request: Request, name: str = _NAME) -> Response:
    """Delete a registered device and its measurements."""
    rt = runtime(request)
    if rt.catalog.is_shipped(name):
        raise HTTPException(403, f"device {name!r} is shipped with nasedge (read-only)")
    if not rt.storage.delete(name):
        raise UnknownDevice(name)
    rt.catalog.forget(name)
    return Response(status_code=204)


def add_routes(r: APIRouter, models: Any, read_deps: list, read_responses: dict) -> None:
    """Add the device routes to ``r``: reads guarded by ``read_deps``, writes by a write token."""
    r.get("/v1/devices", response_model=schemas.DeviceList, tags=["devices"], dependencies=read_deps,
          responses=read_responses)(devices)
    r.get("/v1/devices/{name}", response_model=schemas.DeviceInfo, tags=["devices"],
          dependencies=read_deps, responses={**read_responses, **NOT_FOUND})(device)
    r.post("/v1/devices", status_code=201, response_model=schemas.Registered, tags=["devices"],
           dependencies=[Depends(writer)],
           responses={**UNAUTHORIZED, **FORBIDDEN_TO_READERS,
                      200: {"model": schemas.Registered,
                            "description": "the same registration again (a retry): what is stored, unchanged"},
                      409: {"model": schemas.ErrorBody,
                            "description": "the name is taken by other measurements (or shipped), or differs "
                                           "from a taken one only in case"}},
           )(with_body(register, models.RegisterRequest))
    r.delete("/v1/devices/{name}", status_code=204, tags=["devices"], dependencies=[Depends(writer)],
             responses={**UNAUTHORIZED, **NOT_FOUND,
                        403: {"model": schemas.ErrorBody,
                              "description": "shipped devices are read-only; or a read token, not a write token"}},
             )(delete_device)
