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
    with pytest.raises(ValueError, match=r"^widget 'a' is already registered \(by nasedge: x:Y\)$"):
        reg.register("a", "x:Z")
    from nasedge.registry import _registering_as

    held = Registry("widget")
    with _registering_as("acme"):
        held.register("c", "acme_nas:C")
    with pytest.raises(ValueError, match=r"^widget 'c' is already registered \(by plugin 'acme': acme_nas:C\)$"):
        held.register("c", "brk_nas:C")
    other = reg.copy()
    other.register("b", object)
    assert reg.names() == ["a"] and other.names() == ["a", "b"] and other.load("b") is object


def test_a_registered_target_that_cannot_load_is_one_line_naming_it(tmp_path, monkeypatch):
    (tmp_path / "nasedge_registry_failing.py").write_text("raise RuntimeError('no GPU found\\nsecond line')\n")
    (tmp_path / "nasedge_registry_thing.py").write_text("Thing = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", {"builtin": "nasedge_registry_absent:Thing"})
    reg.register("absent", "nasedge_registry_absent:Thing")
    reg.register("failing", "nasedge_registry_failing:Thing")
    reg.register("no_attr", "nasedge_registry_thing:Other")
    reg.register("ok", "nasedge_registry_thing:Thing")
    with pytest.raises(NasedgeError) as exc:
        reg.load("absent")
    assert str(exc.value) == ("widget 'absent' (nasedge_registry_absent:Thing) cannot be loaded: "
                              "ModuleNotFoundError: No module named 'nasedge_registry_absent'")
    with pytest.raises(NasedgeError, match=r"^widget 'failing' \(nasedge_registry_failing:Thing\) cannot be loaded: "
                                           r"RuntimeError: no GPU found$"):
        reg.load("failing")
    with pytest.raises(NasedgeError, match=r"^widget 'no_attr' \(nasedge_registry_thing:Other\) cannot be loaded: "
                                           r"AttributeError: .*'Other'"):
        reg.load("no_attr")
    assert reg.load("ok") == 1  # the others stay usable
    with pytest.raises(ModuleNotFoundError):  # nasedge's own entry that cannot be found: a bug, shown in full
        reg.load("builtin")
    for name in ("nasedge_registry_failing", "nasedge_registry_thing"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_dotted_requirement_whose_package_is_missing_is_missing():
    reg = Registry("widget")
    reg.register("dotted", "json:dumps", requires=("nasedge_no_such_package.sub",))
    with pytest.raises(NasedgeError, match="^widget dotted needs the Python module 'nasedge_no_such_package.sub'$"):
        reg.load("dotted")
