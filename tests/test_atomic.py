"""Atomic writes: the temporary file of a writer killed before its rename is removed by the next write."""

from __future__ import annotations

import os
import subprocess
import sys

from nasedge.atomic import atomic_write_text, remove_stale_temporaries


def test_temporaries_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "p.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".p.json.{dead.stdout.strip()}.abc.tmp"
    live = tmp_path / f".p.json.{os.getpid()}.xyz.tmp"  # a writer still at work: left alone
    other = tmp_path / f".q.json.{dead.stdout.strip()}.abc.tmp"  # another file's
    for p in (stale, live, other):
        p.write_text("partial")
    atomic_write_text(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path / "q.json") == [other]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "p.json"])
