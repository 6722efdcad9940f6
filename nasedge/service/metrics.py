"""Prometheus metrics of the service, served at ``GET /metrics``.

Each app gets its own registry (two apps in one process do not share counters). With several worker
processes, ``nasedge serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and every process writes its values
there; ``/metrics`` then aggregates all of them, whichever process answers.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class ServiceMetrics:
    """The service's counters and histograms, in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter("nasedge_http_requests", "HTTP requests by route, method and status",
                                ("route", "method", "status"), registry=r)
        self.request_seconds = Histogram("nasedge_http_request_duration_seconds", "Time to answer a request",
                                         ("route", "method"), buckets=_LATENCY_BUCKETS, registry=r)
        self.predicted_archs = Counter("nasedge_predicted_archs", "Archs whose latency was predicted",
                                       registry=r)
        self.batch_requests = Histogram("nasedge_predict_batch_requests", "Requests per predictor call",
                                        buckets=_SIZE_BUCKETS, registry=r)
        self.batch_archs = Histogram("nasedge_predict_batch_archs", "Archs per predictor call",
                                     buckets=_SIZE_BUCKETS, registry=r)
        self.registrations = Counter("nasedge_registrations", "Device registrations by outcome", ("outcome",),
                                     registry=r)
        self.fit_seconds = Histogram("nasedge_registration_fit_seconds", "Time to fit a registered profile",
                                     buckets=_LATENCY_BUCKETS + (30.0, 60.0), registry=r)
        self.cached_predictors = Gauge("nasedge_cached_predictors", "Fitted predictors held in memory",
                                       registry=r, multiprocess_mode="livesum")

    def observe_batch(self, requests: int, archs: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_archs.observe(archs)

    def render(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP request by route template (not raw path) and status."""

    def __init__(self, app: Any, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_recording(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status["code"])).inc()
            self.metrics.request_seconds.labels(route, method).observe(time.perf_counter() - start)
