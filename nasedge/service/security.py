"""Bearer-token checks of the HTTP API, as FastAPI dependencies.

The token sets are the app's (``app.state.write_tokens`` and ``app.state.read_tokens``, see
:mod:`nasedge.service.auth`): :func:`writer` guards registrations and deletions, :func:`reader` guards
reads when the service is configured with ``read_auth``.
"""

from typing import Optional

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nasedge.service import schemas

bearer = HTTPBearer(auto_error=False, description="a token from `nasedge serve token create`")
UNAUTHORIZED = {401: {"model": schemas.ErrorBody, "description": "missing or invalid bearer token"}}
FORBIDDEN_TO_READERS = {403: {"model": schemas.ErrorBody, "description": "a read token, not a write token"}}


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def writer(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
    # sync: FastAPI runs it in a thread, so a first-time scrypt check does not stall the event loop
    write_tokens = request.app.state.write_tokens
    if not write_tokens:
        raise _unauthorized("writes are disabled: the server has no write tokens configured")
    if credentials is None:
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    if not write_tokens.verify(credentials.credentials):
        if request.app.state.read_tokens.verify(credentials.credentials):
            raise HTTPException(403, "this bearer token may read, not write; writes need a write token")
        raise _unauthorized("invalid bearer token")


async def reader(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
    if credentials is None:
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    token = credentials.credentials
    state = request.app.state
    ok = await run_in_threadpool(lambda: state.read_tokens.verify(token) or state.write_tokens.verify(token))
    if not ok:
        raise _unauthorized("invalid bearer token")


async def access_refusal(request: Request) -> Optional[HTTPException]:
    """The refusal a request's bearer token earns on a guarded route (None if it may pass, or the route is open).
    FastAPI reads a JSON body before it checks a route's dependencies: a body that is not JSON is answered with this
    first, so that a caller without a token learns that, not what was wrong with its body."""
    guards = {d.dependency for d in getattr(request.scope.get("route"), "dependencies", ())}
    if not guards & {writer, reader}:
        return None
    credentials = await bearer(request)
    try:
        if writer in guards:
            await run_in_threadpool(writer, request, credentials)
        else:
            await reader(request, credentials)
    except HTTPException as exc:
        return exc
    return None


def read_access(read_auth: bool) -> tuple[list, dict]:
    """The dependencies and documented responses of a read route: none at all when reads are open (a
    dependency would cost every prediction request the dependency machinery)."""
    return ([Depends(reader)], UNAUTHORIZED) if read_auth else ([], {})
