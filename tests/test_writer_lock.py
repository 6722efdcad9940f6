"""One run at a time writes an output: the second is refused in one line naming the first, until it ends."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nasedge.errors import NasedgeError
from nasedge.writer_lock import locked_file, locked_folder


def _other_process(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_second_writer_of_a_file_is_refused_while_the_first_holds_it(tmp_path):
    out = tmp_path / "results {1}.jsonl"   # braces in a name stay as they are in the message
    attempt = f"from nasedge.writer_lock import locked_file\nwith locked_file({str(out)!r}, 'results file'): pass"
    with locked_file(out, "results file"):
        other = _other_process(attempt)
        assert other.returncode != 0
        assert (f"NasedgeError: {out}: another run is appending to this results file (process {os.getpid()}); wait "
                f"for it to end or stop it, or use another file") in other.stderr
        with pytest.raises(NasedgeError, match="another run is appending"):  # another handle of this process too
            with locked_file(out, "results file"):
                pass
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    with locked_file(link, "results file"):   # another name of the same file: the same lock
        with pytest.raises(NasedgeError, match="another run is appending"):
            with locked_file(out, "results file"):
                pass
    link.unlink()
    assert _other_process(attempt).returncode == 0   # released when the block ends
    assert list(tmp_path.iterdir()) == []   # the lock file goes with the run, and the file was never made


def test_a_second_writer_of_a_folder_is_refused_and_a_killed_one_holds_nothing(tmp_path):
    out = tmp_path / "exported"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom nasedge.writer_lock import locked_folder\n"
                               f"with locked_folder({str(out)!r}, '--out'):\n    print('held', flush=True)\n"
                               "    time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(NasedgeError, match=rf"--out {out}: another run is writing this folder \(process "
                                               rf"{holder.pid}\)"):
            with locked_folder(out, "--out"):
                pass
    finally:
        holder.kill()   # kill -9: the lock goes with the process
        holder.wait()
    assert (out / ".lock").read_text() == f"{holder.pid}\n"   # left behind by kill -9, unlocked
    with locked_folder(out, "--out"):
        assert (out / ".lock").read_text() == f"{os.getpid()}\n"
    assert list(out.iterdir()) == []


def test_a_lock_file_removed_by_its_holder_as_it_is_opened_is_not_taken(tmp_path, monkeypatch):
    """The holder removes the lock file as it ends; a run that opened it just before takes the file now at the
    path instead, so two runs never hold two different files of one name."""
    import nasedge.writer_lock as writer_lock

    lock = tmp_path / ".lock"
    lock.write_text("123\n")
    real_open, opened = open, []

    def open_then_holder_ends(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if not opened:   # the first open: the holder's release happens right after it
            os.unlink(path)
        opened.append(path)
        return handle
    monkeypatch.setattr(writer_lock, "open", open_then_holder_ends, raising=False)
    handle, holder = writer_lock.try_lock(lock)
    assert holder is None and len(opened) == 2   # the removed file was let go, the new one taken
    assert os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino and lock.read_text() == f"{os.getpid()}\n"
    writer_lock.release(lock, handle)
    assert not lock.exists()


def test_where_no_lock_can_be_taken_the_run_goes_on():
    """A folder nobody can write (a read-only mount; here /proc, which root cannot write either): no lock, no error
    from the lock (the run's own check says why it cannot write there)."""
    with locked_folder("/proc/nasedge-none", "--out"), locked_file("/proc/nasedge-none.csv", "measurements CSV"):
        pass


def test_the_folders_a_run_made_go_again_unless_it_wrote_into_them(tmp_path):
    with pytest.raises(RuntimeError):
        with locked_file(tmp_path / "nd" / "a" / "b" / "acc.jsonl", "file"):
            raise RuntimeError("failed before writing")
    assert list(tmp_path.iterdir()) == []  # every folder it made, not the innermost only
    with locked_folder(tmp_path / "x" / "y" / "out", "--out"):
        (tmp_path / "x" / "kept.txt").write_text("written")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["x", "x/kept.txt"]
