"""The latency predictor as a service: HTTP API, device profiles in a database, Ray Serve for scale.

>>> from nasedge.service import ServiceSettings, create_app
>>> app = create_app(ServiceSettings(db="sqlite:///profiles.db"))      # any ASGI server runs it

``nasedge serve`` runs it with uvicorn (``--ray``: on Ray Serve); :mod:`nasedge.client` talks to it.
"""

from nasedge.service.settings import RaySettings, ServiceSettings

__all__ = ["RaySettings", "ServiceSettings", "create_app"]


def create_app(settings: ServiceSettings | None = None, **kwargs):
    """See :func:`nasedge.service.app.create_app` (imported on use: FastAPI is an optional dependency)."""
    from nasedge.service.app import create_app as _create_app

    return _create_app(settings, **kwargs)
