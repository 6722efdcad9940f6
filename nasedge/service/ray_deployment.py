"""The same app on Ray Serve: replicas behind Ray's HTTP proxy, predict calls batched by ``@serve.batch``.

``nasedge serve --ray`` deploys :class:`LatencyPredictorService` (``service.ray.num_replicas`` replicas).
Each replica builds the FastAPI app of :func:`nasedge.service.app.create_app` at start, with its own
predictor cache; all of them share the database, whose versions keep the caches honest. Concurrent
predict requests reaching one replica are coalesced into one predictor call by ``@serve.batch``
(``service.ray.max_batch_size`` requests, waiting at most ``batch_wait_timeout_s`` for company).
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import threading
from collections.abc import Callable

from nasedge.service.settings import ServiceSettings

APP_NAME = "nasedge"


def build_deployment(settings: ServiceSettings):
    """The bound Ray Serve application for ``settings`` (call ``serve.run`` on it)."""
    from ray import serve

    from nasedge.service.catalog import Catalog, PredictJob, Prediction

    ray_cfg = settings.ray

    @serve.deployment(name="LatencyPredictorService", num_replicas=ray_cfg.num_replicas,
                      max_ongoing_requests=ray_cfg.max_ongoing_requests,
                      ray_actor_options={"num_cpus": ray_cfg.replica_cpus})
    @serve.ingress()
    class LatencyPredictorService:
        def __init__(self, settings_json: str):
            self.settings = ServiceSettings.from_json(settings_json)
            self.catalog: Catalog | None = None
            self.on_batch: Callable[[int, int], None] | None = None
            self.predict_batch.set_max_batch_size(self.settings.ray.max_batch_size)
            self.predict_batch.set_batch_wait_timeout_s(self.settings.ray.batch_wait_timeout_s)

        def __serve_build_asgi_app__(self):
            from nasedge.service.app import create_app

            return create_app(self.settings, submit=self._submitter)

        def _submitter(self, catalog: Catalog, on_batch: Callable[[int, int], None]) -> Callable:
            self.catalog, self.on_batch = catalog, on_batch

            async def submit(job: PredictJob) -> Prediction:
                result = await self.predict_batch(job)
                if isinstance(result, BaseException):
                    raise result
                return result

            return submit

        @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
        async def predict_batch(self, jobs: list[PredictJob]) -> list:
            results = await asyncio.to_thread(self.catalog.predict, jobs)
            self.on_batch(len(jobs), sum(len(j.archs) for j in jobs))
            return results

    return LatencyPredictorService.bind(settings.to_json())


def run(settings: ServiceSettings, ready: Callable[[], None] | None = None,
        stop: threading.Event | None = None) -> None:
    """Start (or join) Ray, deploy the service on ``settings.host:port``, block until ``stop`` or a signal.

    Ray is shut down afterwards only when this call started it (:mod:`nasedge.ray_cluster`)."""
    from ray import serve

    from nasedge.ray_cluster import connect

    env = {}
    if settings.ray.address is None:
        # one node: the replicas can share one directory of Prometheus values (see nasedge.service.metrics)
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nasedge-metrics-")
    connection = connect(settings.ray.address, num_cpus=settings.ray.num_cpus,
                         runtime_env={"env_vars": env} if env else None)
    stop = stop or threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(build_deployment(settings), name=APP_NAME, route_prefix="/", blocking=False)
        if ready is not None:
            ready()
        stop.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        try:
            serve.shutdown()
        finally:
            connection.close()
            if env:
                import shutil

                shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
