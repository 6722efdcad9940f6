"""The HTTP API's routes, one module per resource, each adding its routes with ``add_routes(router, ...)``.

Handlers are module-level functions; what they need of the running app they take from the request
(:func:`nasedge.service.runtime.runtime`, ``request.app.state.settings``). The request bodies' models
are built per app (their bounds are settings), so a handler's ``body`` gets its model when its route
is added (:func:`with_body`).

The routes go straight onto the app's own router rather than through ``app.include_router``: FastAPI
(0.165) matches an included router lazily, one more layer per request, which cost a single-arch
``POST /v1/predict`` about 100 us of CPU (+40 %, experiments/service/profile_server.py).
"""

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


def with_body(endpoint: Callable[..., Awaitable[Any]], model: type) -> Callable[..., Awaitable[Any]]:
    """``endpoint`` (async) as FastAPI should see it: its ``body`` parameter annotated with ``model``."""

    @functools.wraps(endpoint)
    async def bound(*args: Any, **kwargs: Any) -> Any:
        return await endpoint(*args, **kwargs)

    signature = inspect.signature(endpoint)
    bound.__signature__ = signature.replace(parameters=[
        p.replace(annotation=model) if p.name == "body" else p for p in signature.parameters.values()])
    return bound
