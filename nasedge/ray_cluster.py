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
    if ray.is_initialized():
        return RayConnection(started=False)
    address = address or os.environ.get("RAY_ADDRESS") or (None if start_local else "auto")
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
        hint = ("" if os.environ.get("RAY_AUTH_MODE") or address in (None, "auto") else
                " (if the cluster uses token authentication, set RAY_AUTH_MODE=token and make its token "
                "available as RAY_AUTH_TOKEN or ~/.ray/auth_token)")
        raise RayUnavailable(address, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, hint) from None
    return RayConnection(started=True)


def _sigterm_handler() -> Any:
    """This process's SIGTERM handler where Ray may replace it (the main thread), else None."""
    return signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None


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
