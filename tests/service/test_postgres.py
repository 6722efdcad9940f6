"""The service on a real PostgreSQL server where it differs from SQLite; the throwaway server the tests use.

The storage and HTTP tests marked with ``BACKENDS`` (test_storage.py, test_app.py) run on both databases;
here is what only PostgreSQL shows: a server that refuses or never answers, and the throwaway server's own
teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import REPO
from .postgres import PASSWORD, Unavailable, start_cluster, wait_gone


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _started():
    try:
        return start_cluster()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")


def test_the_throwaway_server_is_stopped_and_removed():
    cluster = _started()
    assert _accepts(cluster.port) and (cluster.data / "postmaster.pid").exists()
    cluster.stop()
    assert not cluster.folder.exists() and not _accepts(cluster.port)


@pytest.mark.slow  # a server of its own, in a process killed -9
def test_a_test_process_killed_leaves_no_server_behind():
    """The watchdog stops the server, and removes its folder, when the process that started it dies without
    its teardown (kill -9, or a timeout's exit)."""
    _started().stop()  # skips where no server can be started
    code = ("from tests.service.postgres import start_cluster\n"
            "import os, signal\n"
            "c = start_cluster()\n"
            "print(c.folder, c.port, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder, port = done.stdout.split()
    assert wait_gone(Path(folder)), f"{folder} left behind"
    assert not _accepts(int(port))


def _one_line_error(nasedge_cli, url: str) -> str:
    """What `nasedge serve --db URL` says before it would listen: exit 2, one line, no password."""
    run = nasedge_cli("serve", "--port", "0", "--db", url)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "nasedge serve: http" not in run.stderr and PASSWORD not in run.stderr
    return run.stderr


def test_a_database_that_refuses_or_is_not_there_is_one_line(postgres_cluster, nasedge_cli):
    """psycopg words a refused connection on two lines (Connection refused, then 'Is the server running
    ...?'); every refusal is said on one line naming the URL (its password hidden)."""
    err = _one_line_error(nasedge_cli, postgres_cluster.url("postgres", password="wrong"))
    assert err.startswith("nasedge: error: service.db: cannot connect to postgresql+psycopg://nasedge:***@")
    assert 'password authentication failed for user "nasedge"' in err
    url = postgres_cluster.url("nosuch")
    assert 'database "nosuch" does not exist' in _one_line_error(nasedge_cli, url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it
    url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/x"
    assert _one_line_error(nasedge_cli, url).startswith(
        f'nasedge: error: service.db: cannot connect to {url}: connection to server at "127.0.0.1", '
        f"port {port} failed: Connection refused; Is the server running")


def test_a_server_that_never_answers_is_an_error_not_a_wait(nasedge_cli, monkeypatch):
    """A port that takes the connection but never speaks (a firewall, another service): libpq waited for
    good."""
    pytest.importorskip("psycopg")
    import nasedge.service.storage as storage

    monkeypatch.setattr(storage, "CONNECT_TIMEOUT_S", 2)  # libpq's least
    done = {}
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql+psycopg://nobody@127.0.0.1:{silent.getsockname()[1]}/x"
        thread = threading.Thread(target=lambda: done.setdefault("err", _one_line_error(nasedge_cli, url)),
                                  daemon=True)
        thread.start()
        thread.join(30)
        waited = thread.is_alive()
    thread.join(30)  # the socket closed: a connection still waiting sees it
    assert not waited, "still connecting after 30 s"
    assert "cannot connect to" in done["err"] and "timeout expired" in done["err"], done["err"]


def test_without_the_driver_the_fix_is_said(nasedge_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as where psycopg is not installed
    err = _one_line_error(nasedge_cli, "postgresql+psycopg://nobody@127.0.0.1:5432/x")
    assert ("service.db: no driver for 'postgresql+psycopg' is installed (psycopg); pip install "
            "'nasedge[postgres]' and give a postgresql+psycopg:// URL") in err
