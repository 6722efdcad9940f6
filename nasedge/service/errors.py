"""How the service answers errors: one JSON line ``{"detail": ...}`` each, never a stack trace.

Invalid input is answered with 422 and ``errors``: ``[{field, message}]``, the field as a path like
``archs[3].kernel[5]`` (:class:`FieldErrors`; :func:`parse_archs` raises it for archs a space refuses).
"""

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from nasedge.errors import ROOT, ArchError, NasedgeError, shortened
from nasedge.predict.encodings import LatencyEncoding
from nasedge.service.catalog import DeviceChanged, UnknownDevice
from nasedge.service.security import access_refusal

log = logging.getLogger("nasedge.service")

_FIELD = re.compile(r"field '([^']+)'")
MAX_ERRORS = 20


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


def _arch_error(prefix: str, exc: NasedgeError) -> tuple[str, str]:
    if isinstance(exc, ArchError):
        path = prefix if exc.field == ROOT else f"{prefix}.{exc.field}"
        if exc.value is None and "required" in str(exc.allowed):
            return path, f"{path}: missing; expected {exc.allowed}"
        return path, f"{path}: value {shortened(repr(exc.value), 60)} is not allowed; expected {exc.allowed}"
    m = _FIELD.search(str(exc))
    path = f"{prefix}.{m.group(1)}" if m else prefix
    return path, shortened(f"{path}: {_FIELD.sub('', str(exc)).lstrip(': ')}", 240)


def parse_archs(enc: LatencyEncoding, records: Sequence[dict], prefix: Callable[[int], str]) -> list:
    """Items of ``enc`` from JSON records; :class:`FieldErrors` with the path of every bad one."""
    items, errors = [], []
    for i, rec in enumerate(records):
        try:
            items.append(enc.parse(rec))
        except NasedgeError as exc:
            errors.append(_arch_error(prefix(i), exc))
            if len(errors) == MAX_ERRORS:
                break
    if errors:
        raise FieldErrors(errors)
    return items


def _field_errors(exc: FieldErrors) -> JSONResponse:
    more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
    return JSONResponse({"detail": exc.errors[0][1] + more,
                         "errors": [{"field": f, "message": m} for f, m in exc.errors]}, status_code=422)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        refusal = await access_refusal(request)
        if refusal is not None:
            return await _http(request, refusal)
    errors = []
    for e in exc.errors()[:MAX_ERRORS]:
        if e.get("type") == "json_invalid":
            where = e.get("loc", ("body", "?"))[-1]
            errors.append(("<body>", f"<body>: invalid JSON at character {where}: "
                                     f"{e.get('ctx', {}).get('error', 'decode error')}"))
            continue
        loc = [p for p in e.get("loc", ()) if p not in ("body", "path", "query", "header")]
        path = _path(loc)
        got = "" if e.get("type") == "missing" or "input" not in e else f" (got {shortened(repr(e['input']), 60)})"
        errors.append((path, f"{path}: {e.get('msg', 'invalid')}{got}"))
    return _field_errors(FieldErrors(errors or [("<body>", "invalid request")]))


async def _fields(_: Request, exc: FieldErrors) -> JSONResponse:
    return _field_errors(exc)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    headers = exc.headers
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None:  # FastAPI's "There was an error parsing the body": say why
        reason = "nested too deep" if isinstance(cause, RecursionError) else f"{type(cause).__name__}: {cause}"
        return JSONResponse({"detail": shortened(f"<body>: not readable as JSON ({reason})", 240)}, status_code=400)
    if exc.status_code == 405:  # Starlette names the methods of one route; a path may have several
        methods = sorted({m for r in request.app.routes if getattr(r, "methods", None)
                          and r.path_regex.match(request.url.path) for m in r.methods})
        headers = {**(headers or {}), "Allow": ", ".join(methods)}
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers)


async def _unknown(_: Request, exc: UnknownDevice) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _changed(_: Request, exc: DeviceChanged) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _database(request: Request, exc: OperationalError | PoolTimeout) -> JSONResponse:
    # a lock held past busy_timeout, a dropped connection, a full disk, every pooled connection taken for
    # pool_timeout (PoolTimeout: many writers waiting on a lock): the request was fine, the moment was not
    orig = getattr(exc, "orig", None)
    reason = (str(orig) if orig is not None else str(exc) or type(exc).__name__).splitlines()[0]
    log.warning("%s %s: database not available (%s)", request.method, request.url.path, reason)
    return JSONResponse({"detail": shortened(f"the database is not available right now ({reason}); retry", 240)},
                        status_code=503, headers={"Retry-After": "5"})


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as one JSON line (422 with field paths for invalid input)."""
    for exc_class, handler in ((RequestValidationError, _validation), (FieldErrors, _fields), (HTTPException, _http),
                               (UnknownDevice, _unknown), (DeviceChanged, _changed), (OperationalError, _database),
                               (PoolTimeout, _database),
                               (Exception, _internal)):
        app.add_exception_handler(exc_class, handler)
