"""The one registry pattern every plugin kind uses (plugins through entry points: tests/plugins/)."""

from __future__ import annotations

import sys

import pytest

from nasedge.errors import NasedgeError
from nasedge.registry import Registry


def test_names_are_imported_only_when_asked_for():
    reg = Registry("widget", {"b": "json.decoder:JSONDecoder", "a": "nasedge_registry_probe:Thing"})
    assert reg.names() == ["a", "b"] and "a" in reg and "c" not in reg
    assert "nasedge_registry_probe" not in sys.modules  # listing imports nothing
    import json.decoder

    assert reg.load("b") is json.decoder.JSONDecoder
    assert Registry("widget", {"b": "x:Y", "a": "x:Z"}, sort=False).names() == ["b", "a"]


def test_unknown_name_lists_the_known_ones():
    reg = Registry("widget", {"b": "x:Y", "a": "x:Z"})
    with pytest.raises(NasedgeError, match="^unknown widget 'c'; known: a, b$"):
        reg.load("c")


def test_a_missing_requirement_says_what_to_install():
    reg = Registry("widget")
    reg.register("fast", "json:dumps", requires=("nasedge_no_such_module",), install_hint=" (pip install fastpkg)")
    with pytest.raises(NasedgeError) as exc:
        reg.load("fast")
    assert str(exc.value) == "widget fast needs the Python module 'nasedge_no_such_module' (pip install fastpkg)"
    assert reg.entry("fast").missing() == "nasedge_no_such_module"


def test_an_undeclared_missing_import_is_one_line_too(tmp_path, monkeypatch):
    (tmp_path / "nasedge_registry_probe.py").write_text("import nasedge_no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", {"probe": "nasedge_registry_probe:Thing"})
    with pytest.raises(NasedgeError, match="^widget probe needs the Python module 'nasedge_no_such_module'$"):
        reg.load("probe")
    monkeypatch.delitem(sys.modules, "nasedge_registry_probe", raising=False)


def test_registering_twice_is_a_programming_error_and_copies_are_independent():
    reg = Registry("widget", {"a": "x:Y"})
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", "x:Z")
    other = reg.copy()
    other.register("b", object)
    assert reg.names() == ["a"] and other.names() == ["a", "b"] and other.load("b") is object
