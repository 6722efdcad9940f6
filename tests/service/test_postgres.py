"""The service on a real PostgreSQL server, where it differs from SQLite; and the throwaway server the tests use.

The storage and HTTP tests marked with ``BACKENDS`` (test_storage.py, test_app.py) run on both databases; here
is what only PostgreSQL shows: a server that refuses or never answers, and the throwaway server's own teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .postgres import Unavailable, start_cluster, wait_gone


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
    """The watchdog stops the server, and removes its folder, when the process that started it dies without its
    teardown (kill -9, or a timeout's exit)."""
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
