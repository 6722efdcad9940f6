"""The example plugin package, installed into a temporary folder for one test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from nasedge.registry import reset_plugins
from nasedge.spaces import get_space

EXAMPLE = Path(__file__).parent / "example"


def _forget() -> None:
    reset_plugins()
    get_space.cache_clear()  # a plugin's spaces must not outlive it
    for name in [m for m in sys.modules if m.partition(".")[0] == "nasedge_example_plugin"]:
        del sys.modules[name]


@pytest.fixture
def example_plugin(tmp_path, monkeypatch):
    """Install ``nasedge_example_plugin`` (package + dist-info with its entry point) on sys.path; returns the folder."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("pyproject.toml", "__pycache__"))
    monkeypatch.syspath_prepend(str(site))
    _forget()
    yield site
    _forget()
