"""What a running app holds: its database, device catalog and predict batching, built by the lifespan.

:func:`create_app <nasedge.service.app.create_app>` puts the configuration on ``app.state``
(``settings``, ``metrics``, ``submit``); :func:`lifespan` builds a :class:`ServiceRuntime` from it at
start and tears it down at stop; handlers reach it with :func:`runtime`.
"""

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Optional

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException

from nasedge.service.batching import MicroBatcher
from nasedge.service.catalog import Catalog, PredictJob, Prediction
from nasedge.service.storage import Storage

Submit = Callable[[PredictJob], Awaitable[Prediction]]


@dataclass
class ServiceRuntime:
    """What the app holds while it runs (built by the lifespan, torn down with it)."""

    storage: Storage
    catalog: Catalog
    submit: Submit
    fit_executor: ThreadPoolExecutor
    batcher: Optional[MicroBatcher] = None
    # one lock per device name in registration, case folded (weak: gone once no registration holds it)
    _registering: weakref.WeakValueDictionary = field(default_factory=weakref.WeakValueDictionary)

    def registration_lock(self, name: str) -> asyncio.Lock:
        """The lock that registrations of ``name`` and of its case twins in this process take in turn."""
        return self._registering.setdefault(name.lower(), asyncio.Lock())


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings, metrics, submit = app.state.settings, app.state.metrics, app.state.submit
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
    app.state.runtime = ServiceRuntime(storage, catalog, run, fit_executor, batcher)
    try:
        yield
    finally:
        rt = app.state.runtime
        app.state.runtime = None
        if rt.batcher is not None:
            rt.batcher.close()
        rt.fit_executor.shutdown(wait=False, cancel_futures=True)
        storage.close()
        if settings.gc_freeze:
            gc.unfreeze()  # an app embedded in a longer-lived process gives its objects back


def runtime(request: Request) -> ServiceRuntime:
    """The runtime of the app serving ``request``; 503 while it starts or stops."""
    rt = request.app.state.runtime
    if rt is None:
        raise HTTPException(503, "the service is starting or stopping")
    return rt
