"""A throwaway PostgreSQL server for the service's tests: ``initdb`` and ``pg_ctl`` in a temporary folder, a
fresh database per test, everything stopped and removed at the end of the session.

The server listens on a free loopback port (password authentication: a wrong password is refused as on a real
server) and on a Unix socket in its folder (no password). PostgreSQL refuses to run as root: run as root, the
server runs as the ``postgres`` user (else ``nobody``). A watchdog process stops and removes it if the tests
die without tearing down (kill -9, a timeout's exit): no server outlives the session.

:func:`start_cluster` raises :class:`Unavailable` (the tests skip, saying why) when the PostgreSQL binaries,
the ``psycopg`` driver or a user to run the server as are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "nasedge", "nasedge-test-secret"

# what the watchdog runs: wait until the tests' end of its stdin closes, then stop the server and remove its
# folder
_WATCHDOG = """
import os, shutil, subprocess, sys
pg_ctl, data, folder, uid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.stdin.buffer.read()
if os.path.isdir(data):
    subprocess.run([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], user=uid if uid >= 0 else None,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
shutil.rmtree(folder, ignore_errors=True)
"""


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def _binary(name: str) -> str:
    debian = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)  # newest first
    found = shutil.which(name) or next(iter(debian), None)
    if found is None:
        raise Unavailable(f"{name} not found (PostgreSQL server binaries are not installed)")
    return found


def _server_user() -> int | None:
    """The uid the server runs as: None (this process's) unless run as root, where PostgreSQL refuses to
    run."""
    if os.getuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
    raise Unavailable("running as root, and no postgres or nobody user to run the PostgreSQL server as")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A running throwaway server; :meth:`database` makes a fresh database on it."""

    folder: Path
    port: int
    pg_ctl: str
    uid: int | None
    watchdog: subprocess.Popen

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """A SQLAlchemy URL of ``database`` over TCP, with the password."""
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL of ``database`` over the Unix socket (no password)."""
        return f"postgresql+psycopg://{USER}@/{database}?host={self.folder}&port={self.port}"

    def database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.folder), port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Restart the server (its connections are dropped), as an upgrade or a failover does."""
        # the log named again: the server would write to pg_ctl's output, a pipe no one reads once it returns
        done = subprocess.run([self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "log"), "-m",
                               "fast", "-w", "restart"], user=self.uid, cwd="/", stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        assert done.returncode == 0, done.stdout

    def stop(self) -> None:
        """Stop the server and remove its folder (the watchdog does it once told to)."""
        if self.watchdog.poll() is None:
            self.watchdog.stdin.close()
            self.watchdog.wait(timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb and start a server in a fresh temporary folder (a second or two); :class:`Unavailable` if it
    cannot."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("the psycopg driver is not installed (pip install nasedge[postgres])") from None
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    uid = _server_user()
    # not under pytest's tmp_path: its folders are private to this user, which the server's may not be; and
    # short, as a Unix socket's path must be
    folder = Path(tempfile.mkdtemp(prefix="nasedge-pg-"))
    if uid is not None:
        os.chown(folder, uid, -1)
    as_user = dict(user=uid, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = None
    try:
        (folder / "pw").write_text(PASSWORD + "\n")
        if uid is not None:
            os.chown(folder / "pw", uid, -1)
        try:
            done = subprocess.run([initdb, "-D", str(folder / "data"), "-U", USER, "--pwfile",
                                   str(folder / "pw"), "--auth-local=trust", "--auth-host=scram-sha-256",
                                   "-E", "UTF8", "--locale=C", "--no-sync"], **as_user)
        except OSError as exc:  # e.g. not allowed to switch to the server's user
            who = f" as uid {uid}" if uid is not None else ""
            raise Unavailable(f"cannot run initdb{who}: {exc}") from None
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {done.stdout.strip()[-500:]}")
        watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, pg_ctl, str(folder / "data"),
                                     str(folder), str(uid if uid is not None else -1)],
                                    stdin=subprocess.PIPE, start_new_session=True)
        for _ in range(3):  # a port found free may be taken before the server binds it
            port = _free_port()
            options = (f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
            done = subprocess.run([pg_ctl, "-D", str(folder / "data"), "-l", str(folder / "log"), "-o",
                                   options, "-w", "-t", "60", "start"], **as_user)
            if done.returncode == 0:
                return Cluster(folder, port, pg_ctl, uid, watchdog)
        log = (folder / "log").read_text(errors="replace")[-500:] if (folder / "log").exists() else ""
        raise Unavailable(f"pg_ctl start failed: {done.stdout.strip()[-300:]} {log}")
    except BaseException:
        if watchdog is not None:
            watchdog.stdin.close()
            watchdog.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        raise


def wait_gone(folder: Path, timeout: float = 30.0) -> bool:
    """Whether a server's ``folder`` is gone within ``timeout`` seconds (for tests of the teardown)."""
    deadline = time.monotonic() + timeout
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not folder.exists()
