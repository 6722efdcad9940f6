"""Fixtures: the real server on a loopback port (uvicorn in a thread, or a separate process), a write
token, 20 real measurements of a GPU from the HELP benchmark (10 reference archs + 10 more), and the database:
an SQLite file, or a fresh database on a throwaway PostgreSQL server (:mod:`tests.service.postgres`) for the
tests parametrized with :data:`BACKENDS`."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nasedge.predict.dataset import load_dataset
from nasedge.resources import shipped_path
from nasedge.service.auth import create_token
from nasedge.service.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
SPACE = "ofa_mbv3_w1.2"


@functools.lru_cache(maxsize=None)
def _token() -> tuple[str, str]:
    return create_token()


@pytest.fixture
def token() -> str:
    """A write token; its hash is in every server's settings built by ``settings``."""
    return _token()[0]


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL server for the session (started on first use, stopped and removed at the end);
    the tests that need it skip, saying why, where none can be started (no server binaries, no psycopg, no
    user to run it as)."""
    from .postgres import Unavailable, start_cluster

    try:
        cluster = start_cluster()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster) -> str:
    """The URL of a fresh database on the session's PostgreSQL server."""
    return postgres_cluster.database()


# the tests that run on either database: SQLite (the default) and PostgreSQL; `db_url` gives the test's
BACKENDS = pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
# the same, PostgreSQL's run deselected by default (-m slow): HTTP tests whose database part the storage tests
# already cover on PostgreSQL, kept out of the default suite's time
BACKENDS_SLOW_PG = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True)


@pytest.fixture
def db_url(request, tmp_path) -> str:
    """The URL of a fresh database: an SQLite file (profiles.db in the test's folder), or, parametrized with
    :data:`BACKENDS`, a PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'profiles.db'}"


@pytest.fixture
def settings(tmp_path, db_url):
    """``settings(**changes)``: ServiceSettings on a fresh database (``db_url``: SQLite unless parametrized),
    with the write token configured and an empty directory of shipped profiles."""
    shipped = tmp_path / "shipped"
    shipped.mkdir(exist_ok=True)

    def make(**changes) -> ServiceSettings:
        base = dict(db=db_url, write_token_hashes=[_token()[1]],
                    shipped_profiles_dir=str(shipped), cv_folds=5)
        return ServiceSettings(**{**base, **changes})

    return make


@functools.lru_cache(maxsize=None)
def _help_ofa():
    return load_dataset(shipped_path("latency_predictors") / "data" / "help_ofa_sample")


@pytest.fixture
def help_ofa():
    """310 OFA w1.2 archs x 12 GPUs of the HELP benchmark."""
    return _help_ofa()


@pytest.fixture
def measurements(help_ofa):
    """20 (arch, latency ms) of the 2080 Ti (batch 64): the 10 reference archs, then 10 more."""
    ds = help_ofa
    others = [i for i in np.flatnonzero(ds.arch_ids < 40) if i not in set(ds.reference)]
    rows = list(ds.reference) + others[:10]
    return [(ds.items[i], float(ds.column("2080ti_64")[i])) for i in rows]


def body(name: str, pairs, space: str = SPACE) -> dict:
    return {"name": name, "space": space,
            "measurements": [{"arch": a.to_dict(), "latency_ms": ms} for a, ms in pairs]}


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with contextlib.closing(free_socket()) as sock:
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(app):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def serve(settings):
    """``serve(**changes)``: a running server (context manager) yielding its URL."""
    from nasedge.service import create_app

    return lambda **changes: running(create_app(settings(**changes)))


class ServerProcess:
    """A server in a child process (``python -m nasedge.cli serve ...`` or a given command), killable. With
    ``port`` 0 (the command says ``--port 0``) the URL is the one the server prints once it listens: a port
    picked here and passed on could be taken by another process in between."""

    def __init__(self, args: list[str], port: int = 0, env: dict | None = None, log: Path | None = None):
        if not port and log is None:
            raise ValueError("a server on port 0 needs a log to read its address from")
        self.port, self.url = port, f"http://127.0.0.1:{port}" if port else None
        self.log = log
        self.log_start = log.stat().st_size if log and log.exists() else 0  # a restart appends to the same log
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                                     start_new_session=True)

    def _address(self) -> str | None:
        with open(self.log, "rb") as f:
            f.seek(self.log_start)
            m = re.search(r"nasedge serve: (http://\S+)", f.read().decode(errors="replace"))
        return m.group(1) if m else None

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:] if self.log else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}: {tail}")
            if self.url is None and (url := self._address()):
                self.url, self.port = url, int(url.rsplit(":", 1)[1])
            try:
                if self.url and httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # its own session: the server and any worker it started
        self.proc.wait(timeout=30)


@pytest.fixture
def server_process():
    """``server_process(args, port=0, log=...)``: start a server process (see :class:`ServerProcess`); every one is
    killed at the end of the test."""
    started: list[ServerProcess] = []

    def start(args: list[str], port: int = 0, **kwargs) -> ServerProcess:
        p = ServerProcess(args, port, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
