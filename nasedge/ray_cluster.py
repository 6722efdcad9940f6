"""The one way nasedge reaches Ray: join a cluster at an address, or start a local instance.

:func:`connect` remembers whether this call initialised Ray (:attr:`RayConnection.started`), so that
only what nasedge started is shut down again; a Ray the caller initialised is used as it is and left
running. :func:`scope` closes whatever a block of code connected, for jobs (``nasedge specialize``)
whose stages may each connect. Nothing here imports Ray before it is needed.

Address: ``address``, else ``RAY_ADDRESS``; without either, a local instance starts (``start_local``)
or one already running on this machine is joined (``"auto"``). A cluster with token authentication
(Ray's default for clusters it starts) is joined by explicit address only with ``RAY_AUTH_MODE=token``
set and the token available (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

from nasedge.errors import NasedgeError


class RayUnavailable(NasedgeError):
    """Ray could not be joined at ``address`` (``"auto"``: none runs on this machine) for ``reason``."""

    def __init__(self, address: Optional[str], reason: str, hint: str = ""):
        super().__init__(f"cannot join the Ray cluster at {address!r}: {reason}{hint}")
        self.address, self.reason, self.hint = address, reason, hint


@dataclass
class RayConnection:
    """A connection to Ray; :meth:`close` shuts Ray down only when this connection started it."""

    started: bool

    def close(self) -> None:
        if self.started:
            import ray

            ray.shutdown()
            self.started = False


def is_connected() -> bool:
    """Whether this process has initialised Ray (without importing it when nothing did)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def connect(address: Optional[str] = None, *, start_local: bool = True, **init_options: Any) -> RayConnection:
    """Initialise Ray unless it is already: join ``address`` (or ``RAY_ADDRESS``), else start a local instance
    (``start_local``) or join one running here. ``init_options`` go to ``ray.init``."""
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency; kept for minimal installs
        raise NasedgeError("this needs Ray: pip install 'ray[default]'") from None
    if ray.is_initialized():  # the caller's Ray, and its printing: used as they are
        return RayConnection(started=False)
    _raylet_messages_to_stderr()
    address = address or os.environ.get("RAY_ADDRESS") or (None if start_local else "auto")
    answer = "ray"
    head = _host_port(address)
    if head is not None:  # Ray would retry an address where no head answers for minutes
        answer = ask_head(*head, JOIN_PROBE_S)
        if answer not in ("ray", "token"):
            raise RayUnavailable(address, f"no Ray cluster answers there ({answer})")
    options = {"include_dashboard": False, "log_to_driver": False, **init_options}
    previous = _sigterm_handler()
    try:
        try:
            ray.init(address=address, **options)
        except BaseException:  # a stop while it starts (its own SIGTERM handler: sys.exit(15)): what started goes
            ray.shutdown()
            raise
        # ray.init makes SIGTERM a bare sys.exit(15) (for its shutdown at exit); a handler the program had (the
        # CLI's: cleanup, one line, exit 143) stays, and its unwinding shuts Ray down as well
        if callable(previous):
            signal.signal(signal.SIGTERM, previous)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        # Ray >= 2.5x secures clusters with a token; joining by explicit address only sends it when told to
        hint = ("" if os.environ.get("RAY_AUTH_MODE") or answer != "token" else
                " (the cluster uses token authentication: set RAY_AUTH_MODE=token and make its token "
                "available as RAY_AUTH_TOKEN or ~/.ray/auth_token)")
        raise RayUnavailable(address, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, hint) from None
    return RayConnection(started=True)


def _raylet_messages_to_stderr() -> None:
    """Messages the cluster sends this driver (a node that died: "(raylet) Raylet is terminated ..." and some 40
    lines of its log or state dump; a task retried; a worker killed for memory) go to stderr, their first line
    only, instead of to stdout: the result stream of a nasedge command. ``log_to_driver=False`` leaves them on: Ray prints them from a thread of its
    own (``listen_error_messages``) through ``print_to_stdstream``, which is wrapped here, once per process."""
    try:
        from ray._private import worker
    except ImportError:  # pragma: no cover - another Ray layout: its messages stay where it prints them
        return
    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "nasedge_stderr", False):
        return

    def print_to_stderr(data: dict, *args: Any, **kwargs: Any) -> Any:
        if data.get("pid") == "raylet" and not data.get("is_err"):
            lines = [str(message).strip().splitlines()[0] for message in data.get("lines", []) if str(message).strip()]
            data = {**data, "lines": lines, "is_err": True}
        return printer(data, *args, **kwargs)

    print_to_stderr.nasedge_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = print_to_stderr


def lost_words(exc: BaseException) -> str:
    """A failure of the system's (``NodeDiedError``, ``WorkerCrashedError``, ...) in one line: its kind and Ray's
    first sentences, without its advice on Ray's own tools."""
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    said = said.split(" This can happen")[0].split(" To see node death")[0].rstrip(".")
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


JOIN_PROBE_S = 5.0  # a head answers in milliseconds; one far away or busy gets this long


def _host_port(address: Optional[str]) -> Optional[tuple[str, int]]:
    """(host, port) of an address given as ``HOST:PORT``; None for ``auto``, ``local``, ``ray://...`` and the like."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or not host or "/" in address or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _sigterm_handler() -> Any:
    """This process's SIGTERM handler where Ray may replace it (the main thread), else None."""
    return signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None


def not_a_ray_head(host: str, port: int, timeout: float) -> Optional[str]:
    """Why what listens at ``host:port`` is not a Ray cluster's head (its GCS), or ``None`` when it answers as one
    (:func:`ask_head`)."""
    answer = ask_head(host, port, timeout)
    return None if answer in ("ray", "token") else answer


def ask_head(host: str, port: int, timeout: float) -> str:
    """``"ray"`` when a Ray head's GCS answers at ``host:port`` within ``timeout`` seconds, ``"token"`` when one
    refuses a call without its token (a token-secured cluster), else why nothing there answers as one.

    Asks for the cluster's id (the first call ``ray.init`` makes, ``ray.rpc.NodeInfoGcsService/GetClusterId``,
    an empty request) over gRPC, without importing Ray: an HTTP server (a dashboard), another gRPC service (a Ray
    Client server) or a silent one is told apart in a second, where Ray itself retries such an address for minutes."""
    if os.environ.get("RAY_USE_TLS", "").lower() in ("1", "true"):  # a head that drops a plaintext call: Ray's
        return "ray"  # own join, with the RAY_TLS_* certificates, says what is wrong
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpcio comes with Ray; without it the join says what is wrong
        return "ray"
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:  # as Ray's own
        try:
            channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")(b"", timeout=timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), (exc.details() or "").strip()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return "token"
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return f"no answer within {timeout:g} s"
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return "a gRPC service other than a Ray head's GCS answers, e.g. a Ray Client server"
            if "HTTP/2" in details:  # it answered, but not in gRPC's HTTP/2
                return "what answers does not speak gRPC as a Ray head does: a dashboard's or another HTTP port?"
            return details.splitlines()[-1].split(": ")[-1] if details else code.name.lower()
    return "ray"


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Ray initialised inside the block is shut down on leaving it; a Ray initialised before stays up."""
    before = is_connected()
    try:
        yield
    finally:
        if not before and is_connected():
            import ray

            ray.shutdown()
