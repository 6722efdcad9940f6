"""One run at a time writes an output: an exclusive advisory lock (``flock``) held while the run lasts.

Two runs appending to one file would each write every record (each read the file before the other wrote), and
two runs on one output folder would swap each other's files away. The second run is refused in one line
instead. The lock is a file of its own: ``<folder>/.lock`` for a folder, ``.<name>.lock`` beside a file (not
the file itself: a run that repairs a cut-short last line replaces the file, and a lock on the old one would
hold nothing). It holds the writer's process id, so that the refusal can name it, and is removed when the run
ends (a lock taken on a lock file that was removed meanwhile is dropped and taken again on the new one). A
process killed with -9 leaves its lock file behind, unlocked: the next run takes it. Where no lock can be taken
(a folder the process cannot write, a file system without locks), the run goes on without one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Optional

from nasedge.errors import NasedgeError

FOLDER_LOCK = ".lock"


def try_lock(path: str | Path) -> tuple[Optional[IO], Optional[str]]:
    """Take the lock file ``path`` (created if missing) without waiting: ``(handle, None)`` when taken (the file then
    holds this process's id; :func:`release` ends it); ``(None, holder)`` when another process holds it
    (``holder``: the id it recorded, or ""); ``(None, None)`` where no lock can be taken."""
    while True:
        try:
            handle = open(path, "a+")
        except OSError:
            return None, None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            return None, holder
        except OSError:  # no locks on this file system
            handle.close()
            return None, None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # the holder removed it as we opened it: the lock is the file now at ``path``
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle, None


def release(path: str | Path, handle: IO) -> None:
    """End a lock :func:`try_lock` took: the file goes first, then the lock (so a run that opened the file meanwhile
    sees it gone, and takes the next one)."""
    try:
        os.unlink(path)
    except OSError:
        pass
    handle.close()


@contextmanager
def holding(lock: Path) -> Iterator[Optional[str]]:
    """Hold the lock file ``lock`` while the block runs (:func:`try_lock`, then :func:`release`); yields None when
    it is held or no lock can be taken, else the holder's process id ("" when unknown)."""
    handle, holder = try_lock(lock)
    try:
        yield holder
    finally:
        if handle is not None:
            release(lock, handle)


@contextmanager
def making(folder: Path) -> Iterator[None]:
    """``folder`` made (with its parents) for the block; those it made go again when the block ends, unless the
    run wrote into them: a run refused, stopped or failed before it wrote leaves no folders behind."""
    made = [f for f in (folder, *folder.parents) if not f.exists()]  # innermost first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the run's own check says why it cannot write there
    try:
        yield
    finally:
        for f in made:
            try:
                f.rmdir()
            except OSError:
                break  # it holds what the run wrote, and so do the folders around it


@contextmanager
def _held(lock: Path, refusal: Callable[[str], str]) -> Iterator[None]:
    with making(lock.parent), holding(lock) as holder:
        if holder is not None:
            raise NasedgeError(refusal(holder or "?"))
        yield


def locked_file(path: str | Path, what: str):
    """Hold the lock of the file ``path`` that a run appends to (``what`` it is, for the refusal) while the
    ``with`` block runs."""
    path = Path(path)
    real = Path(os.path.realpath(path))  # a link to the file is the file: one lock for both names
    return _held(real.with_name(f".{real.name}.lock"), lambda holder: (
        f"{path}: another run is appending to this {what} (process {holder}); wait for it to end or stop it, or use "
        f"another file"))


def locked_folder(folder: str | Path, flag: str):
    """Hold the lock of the output folder ``folder`` (given as ``flag``, for the refusal) while the ``with``
    block runs."""
    folder = Path(folder)
    return _held(Path(os.path.realpath(folder)) / FOLDER_LOCK, lambda holder: (
        f"{flag} {folder}: another run is writing this folder (process {holder}); wait for it to end or stop it, or "
        f"use another folder"))
