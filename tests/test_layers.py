"""The import contract (DESIGN.md, "Layers"): layers point down, and no imports go in circles.

Every module of the package is parsed with ``ast``; imports at module level and inside functions count
alike (a lazy import is still a dependency). A module belongs to the layer of its component: the
top-level module, or the subpackage it lives in. Within a layer any component may import another,
as long as no circle forms, between components or between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import nasedge

# Top to bottom; a component may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, list[str]]] = [
    # parse flags, compose the Hydra configuration (config: the ConfigStore and compose), print, exit codes
    ("entry", ["nasedge.cli", "nasedge.commands", "nasedge.config", "nasedge.__main__"]),
    # the main job and the predictor service with its HTTP client
    ("jobs", ["nasedge.specialize", "nasedge.service", "nasedge.client"]),
    # strategies, predictors, devices and runtimes, training, export
    ("parts", ["nasedge.search", "nasedge.predict", "nasedge.measure", "nasedge.train", "nasedge.export"]),
    # supernet, space families and static nets; cost: parameter and MAC counts read off a space's geometry
    ("models", ["nasedge.supernet", "nasedge.spaces", "nasedge.nn", "nasedge.cost"]),
    # plain data and shared primitives; nasedge: the package itself (version, Arch, errors)
    ("primitives", ["nasedge", "nasedge.arch", "nasedge.data", "nasedge.errors", "nasedge.atomic",
                    "nasedge.resources", "nasedge.home", "nasedge.jsonlines", "nasedge.npz", "nasedge.progress",
                    "nasedge.latency_table", "nasedge.lazy", "nasedge.ray_cluster", "nasedge.registry",
                    "nasedge.writer_lock"]),
]
RULE = "layers point down: " + " -> ".join(name for name, _ in LAYERS)


def _modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, modules: dict[str, Path], package: str) -> list[tuple[str, int]]:
    """(imported module of the package, line) for every import in the file, at any depth."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[:len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` the module mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != package:
                continue
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != module:
                found.append((target, node.lineno))
    return found


def _component(module: str, package: str) -> str:
    return ".".join(module.split(".")[:2]) if module != package else package


def _cycles(edges: dict[str, dict[str, tuple[Path, int]]]) -> list[list[str]]:
    """One circle (a list of nodes, first repeated last) per strongly connected set of nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    sets: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                sets.append(members)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    circles = []
    for members in sets:  # the shortest way from one member back to itself, inside the set
        start = min(members)
        paths = {start: [start]}
        frontier = [start]
        while frontier and start not in [w for v in frontier for w in edges[v]]:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v]):
                    if w in members and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in edges[v])
        circles.append(paths[last] + [start])
    return circles


def check_layers(root: Path, package: str, layers: list[tuple[str, list[str]]]) -> list[str]:
    """Every breach of the contract in the package at ``root``: one line each, naming file:line and the rule."""
    modules = _modules(root, package)
    layer_of = {component: i for i, (_, components) in enumerate(layers) for component in components}
    rule = "layers point down: " + " -> ".join(name for name, _ in layers)
    problems = []
    module_edges: dict[str, dict[str, tuple[Path, int]]] = defaultdict(dict)
    component_edges: dict[str, dict[str, tuple[Path, int]]] = defaultdict(dict)
    for module, path in modules.items():
        here = _component(module, package)
        if here not in layer_of:
            problems.append(f"{path}:1: {module} is in no layer; add {here} to LAYERS in tests/test_layers.py")
            continue
        for target, line in _imports(module, path, modules, package):
            module_edges[module].setdefault(target, (path, line))
            there = _component(target, package)
            if there != here:
                component_edges[here].setdefault(there, (path, line))
            if layer_of.get(there, len(layers)) < layer_of[here]:
                problems.append(f"{path}:{line}: {module} imports {target}: layer {layers[layer_of[here]][0]!r} "
                                f"may not import layer {layers[layer_of[there]][0]!r} ({rule})")
    for kind, edges in (("packages", component_edges), ("modules", module_edges)):
        for circle in _cycles(edges):
            steps = zip(circle, circle[1:])
            where = ", ".join(f"{edges[a][b][0]}:{edges[a][b][1]} ({a} imports {b})" for a, b in steps)
            problems.append(f"import circle between {kind} {' -> '.join(circle)}: {where} (imports may not go in "
                            f"circles)")
    return problems


def test_the_package_keeps_to_its_layers():
    problems = check_layers(Path(nasedge.__file__).parent, "nasedge", LAYERS)
    assert not problems, "\n".join(problems)


def test_the_library_never_imports_the_command_line_or_the_compose_module():
    top = dict(LAYERS)["entry"]
    assert {"nasedge.cli", "nasedge.commands", "nasedge.config"} <= set(top) and LAYERS[0][0] == "entry"


# --- the checker itself, on a tiny synthetic package ---------------------------------------------------
TOY_LAYERS = [("top", ["toy.app"]), ("middle", ["toy.lib", "toy.other"]), ("bottom", ["toy", "toy.base"])]


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "toy"
    for name, text in {"__init__.py": "", "base.py": "X = 1\n", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_accepts_a_package_whose_imports_point_down(tmp_path):
    root = _toy(tmp_path, {"app.py": "from toy.lib import f\n", "lib/__init__.py": "from toy.lib.core import f\n",
                           "lib/core.py": "from toy import base\nfrom .helpers import g\n", "lib/helpers.py": "g = 1\n",
                           "other.py": "import toy.lib\n"})
    assert check_layers(root, "toy", TOY_LAYERS) == []


def test_checker_names_file_line_and_rule_of_an_upward_import_even_inside_a_function(tmp_path):
    root = _toy(tmp_path, {"app.py": "", "lib.py": "import os\n\n\ndef f():\n    from toy.app import main\n",
                           "other.py": ""})
    (problem,) = check_layers(root, "toy", TOY_LAYERS)
    assert problem.startswith(f"{root / 'lib.py'}:5: toy.lib imports toy.app: layer 'middle' may not import "
                              f"layer 'top'")
    assert "layers point down: top -> middle -> bottom" in problem


def test_checker_finds_circles_between_packages_and_between_modules(tmp_path):
    root = _toy(tmp_path, {"app.py": "", "lib/__init__.py": "", "lib/a.py": "from . import b\n",
                           "lib/b.py": "def f():\n    from toy.lib import a\n    import toy.other\n",
                           "other.py": "from toy.lib.a import x\n"})
    problems = check_layers(root, "toy", TOY_LAYERS)
    packages = [p for p in problems if p.startswith("import circle between packages")]
    modules = [p for p in problems if p.startswith("import circle between modules")]
    assert len(packages) == 1 and "toy.lib -> toy.other -> toy.lib" in packages[0]
    assert f"{root / 'other.py'}:1 (toy.other imports toy.lib)" in packages[0]
    assert any("toy.lib.a -> toy.lib.b -> toy.lib.a" in p and f"{root / 'lib' / 'b.py'}:2" in p for p in modules)


def test_checker_refuses_a_module_in_no_layer(tmp_path):
    root = _toy(tmp_path, {"app.py": "", "lib.py": "", "other.py": "", "stray.py": "from toy import base\n"})
    (problem,) = check_layers(root, "toy", TOY_LAYERS)
    assert "toy.stray is in no layer" in problem
