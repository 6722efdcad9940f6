"""The search spaces the service predicts, and the archs a new device measures first."""

import functools
from typing import Optional

from fastapi import APIRouter, Path, Query, Request
from starlette.exceptions import HTTPException

from nasedge.errors import NasedgeError
from nasedge.predict import predictor_class
from nasedge.predict.encodings import LatencyEncoding, get_encoding, list_encodings
from nasedge.predict.profile import profile_archs, reference_archs
from nasedge.service import schemas
from nasedge.service.errors import FieldErrors

RECOMMENDED_MEASUREMENTS = 20
MAX_ARCHS_TO_MEASURE = 200
DESIGNS = ("active", "random")


@functools.lru_cache(maxsize=None)
def _known_encoding(space: str) -> Optional[LatencyEncoding]:
    return get_encoding(space) if space in list_encodings() else None


def space_encoding(space: str, field: Optional[str]) -> LatencyEncoding:
    """The encoding of ``space`` (one object per space: it caches rows); unknown: 404 or 422 on ``field``."""
    enc = _known_encoding(space)
    if enc is None:
        message = f"unknown space {space!r}; known: {', '.join(list_encodings())}"
        if field is None:
            raise HTTPException(404, message)
        raise FieldErrors([(field, f"{field}: {message}")])
    return enc


def space_references(request: Request, space: str) -> tuple[LatencyEncoding, list]:
    """The encoding of ``space`` and its reference archs (looked up once per app); unknown: 404."""
    enc = space_encoding(space, None)
    references = request.app.state.references
    if enc.name not in references:
        try:
            references[enc.name] = reference_archs(enc)
        except NasedgeError as exc:
            raise HTTPException(404, str(exc)) from None
    return enc, references[enc.name]


async def spaces() -> dict[str, list[str]]:
    """Search spaces whose archs the service can predict."""
    return {"spaces": list_encodings()}


def space_reference_archs(request: Request, space: str = Path(max_length=schemas.NAME_LENGTH)) -> dict:
    """The archs to measure first on a new device (its hardware embedding), then add support archs."""
    settings = request.app.state.settings
    enc, refs = space_references(request, space)
    return {"space": enc.name, "archs": [enc.to_record(a) for a in refs],
            "min_measurements": max(len(refs) if settings.require_reference_archs else 0,
                                    predictor_class(settings.predictor).min_samples),
            "recommended_measurements": max(RECOMMENDED_MEASUREMENTS, len(refs))}


def space_archs_to_measure(request: Request, space: str = Path(max_length=schemas.NAME_LENGTH),
                           n: Optional[int] = Query(None, ge=1, le=MAX_ARCHS_TO_MEASURE,
                                                    description=f"default {RECOMMENDED_MEASUREMENTS}, or every "
                                                                "reference arch of a space without a sampler"),
                           seed: int = Query(0, ge=0, le=2**31 - 1),
                           design: str = Query("active", pattern=f"^({'|'.join(DESIGNS)})$")) -> dict:
    """The ``n`` archs to measure on a new device, as ``nasedge predictor archs`` lists them: the reference
    archs first, then (``design=active``, the default) every other one chosen to pin a linear latency model
    down and the rest random, or (``random``) random ones. The first archs of a larger ``n`` are those of a
    smaller one, so a device can measure more later."""
    enc, refs = space_references(request, space)  # 404 for an unknown space
    try:
        archs = profile_archs(enc, n or RECOMMENDED_MEASUREMENTS, seed, active=design == "active", references=refs)
    except NasedgeError as exc:  # a space without a sampler has only its reference archs
        if n is not None:
            raise FieldErrors([("n", f"n: value {n} is not valid: {exc}")]) from None
        archs = list(refs)  # not asked for a number: all there is
    return {"space": enc.name, "archs": [enc.to_record(a) for a in archs], "design": design, "seed": seed}


def add_routes(r: APIRouter, read_deps: list, read_responses: dict) -> None:
    """Add the space routes to ``r``, guarded by ``read_deps``."""
    r.get("/v1/spaces", tags=["spaces"], dependencies=read_deps, responses=read_responses)(spaces)
    r.get("/v1/spaces/{space}/reference-archs", response_model=schemas.ReferenceArchs, tags=["spaces"],
          dependencies=read_deps,
          responses={**read_responses, 404: {"model": schemas.ErrorBody, "description": "unknown space"}},
          )(space_reference_archs)
    r.get("/v1/spaces/{space}/archs", response_model=schemas.ArchsToMeasure, tags=["spaces"],
          dependencies=read_deps,
          responses={**read_responses, 404: {"model": schemas.ErrorBody, "description": "unknown space"},
                     422: {"model": schemas.ErrorBody, "description": "invalid n, seed or design"}},
          )(space_archs_to_measure)
