"""Serve latency predictions over HTTP (FastAPI; OpenAPI schema at /openapi.json, docs at /docs).

  nasedge serve [--host 127.0.0.1] [--port 8000 (0: a free one)] [--db URL] [--workers N] [KEY=VALUE ...]
  nasedge serve --ray [service.ray.num_replicas=2 ...]         the same app on Ray Serve
  nasedge serve token create [--file TOKENS]                   a write token and its hash

Device profiles live in the database (``--db``, default <nasedge home>/service/profiles.db; any
SQLAlchemy URL); its schema is migrated at start. Writes (registering, deleting devices) need a bearer
token: `nasedge serve token create` prints one and the salted hash the server stores, in
``service.write_token_hashes=[...]`` or a file given as ``service.token_file=PATH``. Registrations fit
the configured ``predictor`` group, as `nasedge predictor fit` does.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000; 0: a free one, printed at start)")
    parser.add_argument("--db", metavar="URL",
                        help="database URL (default: SQLite in the nasedge home, <home>/service/profiles.db)")
    parser.add_argument("--workers", type=int, metavar="N", help="uvicorn worker processes (default 1)")
    parser.add_argument("--ray", action="store_true", help="deploy on Ray Serve (replicas, request batching)")
    parser.add_argument("--file", metavar="TOKENS", help="token create: append the hash to this file")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="configuration overrides (service.*, predictor.*); or `token create`")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, either a clean stop (exit 0)."""
    from nasedge.errors import NasedgeError, Terminated

    if args.overrides[:1] == ["token"]:
        if args.overrides[1:] != ["create"]:
            raise NasedgeError(f"serve token: expected `nasedge serve token create [--file TOKENS]`, got "
                               f"{' '.join(args.overrides)!r}")
        return _create_token(args.file)
    if args.file:
        raise NasedgeError("--file goes with `nasedge serve token create`")
    settings = resolve_settings(args)
    from nasedge.service.storage import Storage

    storage = Storage(settings.db)
    storage.migrate()  # once, here: workers and replicas start on a current schema
    if settings.write_token_hashes or settings.token_file:
        storage.check_writable()  # a read-only database would fail every registration, as a 500
    storage.close()
    settings.migrate = False
    if args.ray:
        from nasedge.service.ray_deployment import run as run_ray

        if settings.port == 0:
            raise NasedgeError(f"{_port_field(args)} 0: Ray Serve listens on a fixed port; give one, or serve "
                               "without --ray")
        _listen(settings.host, settings.port, args).close()  # in use: a one-line error now, not Ray's traceback
        where = _url(settings.host, settings.port)

        def ready() -> None:
            print(f"nasedge serve: {where} on Ray Serve ({settings.ray.num_replicas} replicas), "
                  f"database {_redacted(settings.db)}", file=sys.stderr, flush=True)

        run_ray(settings, ready)
        return 0
    import uvicorn

    # bound before the server is announced: the address printed is the one served (port 0: a free one, as
    # tests and scripts start it), and a port in use is a one-line error
    sock = _listen(settings.host, settings.port, args)
    settings.port = sock.getsockname()[1]
    where = _url(settings.host, settings.port)
    print(f"nasedge serve: {where} ({settings.workers} worker{'s' if settings.workers > 1 else ''}), "
          f"database {_redacted(settings.db)}; docs at {where}/docs", file=sys.stderr, flush=True)
    options = dict(host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                   timeout_graceful_shutdown=5)
    if settings.workers == 1:
        from nasedge.service.app import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
        with sock:
            try:
                server.run(sockets=[sock])
            except (KeyboardInterrupt, Terminated):  # re-raised by uvicorn once shut down: how a server stops
                pass
        return 0 if server.started else STARTUP_FAILURE
    import os
    import shutil
    import tempfile

    from nasedge.service.app import SETTINGS_ENV

    metrics_dir = tempfile.mkdtemp(prefix="nasedge-metrics-")
    os.environ[SETTINGS_ENV] = settings.to_json()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # uvicorn binds its own socket for the workers: SO_REUSEADDR on both lets it take the port this one holds
    # (bound, not listening) until then. Handing this one over as uvicorn's `fd` would leave TCP_NODELAY off (it
    # takes such a socket for a Unix one): 44 ms a request instead of 1.5 (experiments/service/README.md)
    try:
        with sock:
            uvicorn.run("nasedge.service.app:create_app_from_env", factory=True, workers=settings.workers,
                        **options)
    except (KeyboardInterrupt, Terminated):  # SIGINT or SIGTERM: a clean stop, whatever the worker count
        pass
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


STARTUP_FAILURE = 3  # uvicorn's exit status for a server that did not start (its application failed to load)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _port_field(args: argparse.Namespace) -> str:
    return "--port" if args.port is not None else "service.port"


def _listen(host: str, port: int, args: argparse.Namespace) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), or a one-line error naming the setting."""
    from nasedge.commands.inputs import check_port
    from nasedge.errors import NasedgeError

    check_port(_port_field(args), port)  # service.port from the config: --port was checked with the other flags
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise NasedgeError(f"{'--host' if args.host is not None else 'service.host'} {host!r}: not an "
                               f"address of this machine ({exc.strerror})") from None
        raise NasedgeError(f"{_port_field(args)} {port}: cannot listen on {host}:{port} ({exc.strerror})") from None
    return sock


def resolve_settings(args: argparse.Namespace):
    """ServiceSettings from the composed configuration, the flags, and the ``predictor`` group."""
    from omegaconf import OmegaConf

    from nasedge.config import compose
    from nasedge.errors import NasedgeError
    from nasedge.predict import predictor_config
    from nasedge.predict.profile import check_cv_folds
    from nasedge.service.auth import TokenSet, read_token_file
    from nasedge.service.settings import ServiceSettings

    for o in args.overrides:
        key = o.lstrip("+~").split("=", 1)[0]
        if key in ("service.predictor", "service.predictor_options", "service.cv_folds"):
            raise NasedgeError(f"override {o!r}: the service fits the `predictor` group, as `nasedge "
                               f"predictor fit` does; use predictor=NAME, predictor.<option>=... or "
                               f"predictor.cv_folds=N")
    cfg = compose(args.overrides)
    data = OmegaConf.to_container(cfg.service, resolve=True)
    for flag in ("host", "port", "db", "workers"):
        if getattr(args, flag) is not None:
            data[flag] = getattr(args, flag)
    predictor = OmegaConf.to_container(cfg.predictor, resolve=True)
    data["predictor"], data["predictor_options"] = predictor_config(predictor)
    data["cv_folds"] = check_cv_folds(predictor["cv_folds"])  # the service's copy: named as the user set it
    settings = ServiceSettings.from_mapping(data)
    settings.check_predictor()  # here, before the address is announced and workers or replicas start
    if settings.workers > 1 and args.ray:
        raise NasedgeError("--workers is for the uvicorn server; with --ray set service.ray.num_replicas")
    # bad token configuration: fail now, with the setting named, not in a worker
    TokenSet(settings.write_token_hashes)
    TokenSet(settings.read_token_hashes, "service.read_token_hashes")
    if settings.token_file:
        hashes = read_token_file(settings.token_file)
        if not hashes:  # given to enable writes: without a hash every write would be refused
            raise NasedgeError(f"service.token_file {settings.token_file}: holds no token hash; add one with "
                               f"`nasedge serve token create --file {settings.token_file}`")
        TokenSet(hashes, settings.token_file)
    return settings


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (Storage reports a bad URL properly)
        return url


def _create_token(path: str | None) -> int:
    from nasedge.service.auth import create_token

    token, stored = create_token()
    if path:
        import os
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)  # as every output's folder is (checked writable)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(stored + "\n")
        print(f"token (give it to the client; it is not stored anywhere): {token}")
        print(f"its hash was appended to {path}; start the server with service.token_file={path}")
    else:
        print(f"token (give it to the client; it is not stored anywhere): {token}")
        print(f"hash (for a token file, or the override service.write_token_hashes=[{stored}]): {stored}")
    return 0
