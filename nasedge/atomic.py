"""Atomic file writes: readers (and a crash) see the old file or the new one, never a part of it; and
durable appends of whole lines.

The temporary file beside the target is named ``.<name>.<pid>.<random>.tmp``; a writer killed before
its rename (kill -9, power loss) leaves it behind, and the next atomic write of the same file removes
the ones whose process is gone.

:func:`check_out_dir` is the one check, before the work, that a folder can be written at all.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Optional

from nasedge.errors import NasedgeError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)  # make the rename itself durable


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def durable_append(path: str | Path, data: bytes, header: bytes = b"") -> bool:
    """Append ``data`` (``header`` first when the file is new or empty) in one write, then fsync: a kill leaves
    the appended lines whole or absent, short of a torn disk write that readers repair. Returns whether the
    file was new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        new = os.fstat(fd).st_size == 0
        data = header + data if new else data
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_directory(path.parent)
    return new


def fsync_directory(directory: str | Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files of atomic writes of ``path`` whose writer process is gone; returns them."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_out_dir(flag: str, path: Optional[str], given: Optional[str] = None, where: Optional[str] = None) -> None:
    """``path`` is a folder or can become one: no file in its place or above it, and a file can be created in the
    nearest folder that exists (a read-only or virtual file system such as ``/proc`` fails here, not after the
    work). ``given``: the value the user gave, where ``path`` is its folder; ``where``: what errors name (default:
    ``flag`` and the value)."""
    if path is None:
        return
    if not str(path).strip():  # an unset shell variable: the working folder, silently
        raise NasedgeError(f"{flag}: value {path!r} is not valid; expected a folder")
    where = where or f"{flag} {given or path}"
    p = Path(path)
    for parent in [p, *p.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NasedgeError(f"{where}: {parent} exists and is not a folder")
            _probe_writable(where, parent)
            return


def _probe_writable(where: str, folder: Path) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".nasedge-probe-"):
            pass
    except OSError as exc:
        # the folder exists: "no such file" is a file system that makes no new entries (/proc), not a missing path
        why = "its file system takes no new files or folders" if exc.errno == errno.ENOENT else exc.strerror or exc
        raise NasedgeError(f"{where}: cannot write in {folder} ({why})") from None
