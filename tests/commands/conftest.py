"""Fixtures of the command tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def line_per_update(monkeypatch):
    """Plain progress lines (:class:`nasedge.progress.PlainProgress`) at every update rather than every 5 s: each step
    of a job that takes a second in a test shows."""
    from nasedge import progress

    class EveryUpdate(progress.PlainProgress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.interval = 0

    monkeypatch.setattr(progress, "PlainProgress", EveryUpdate)
