"""docs/architecture.md's module map lists every module of the package, in its layer, with the first paragraph of
its docstring: a module added, moved or re-described without the map fails here.

    python tests/test_module_map.py --write     rewrite the map's table from the code (layers from test_layers.py)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PACKAGE = REPO / "nasedge"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_layers import LAYERS  # noqa: E402  (the one list of layers)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts)


def _layer(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    module = ".".join(parts)
    best = max(((prefix, name) for name, prefixes in LAYERS for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), key=lambda x: len(x[0]))
    return best[1]


def _description(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if not doc:
        return "(package)" if path.name == "__init__.py" else "(no docstring)"
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")


def table(headers: dict[str, str]) -> list[str]:
    """The map's rows: a header row per layer (its text from ``headers``), then its modules."""
    rows = ["| module | what it is |", "|---|---|"]
    for name, _ in LAYERS:
        rows.append(f"| **{name}** | {headers.get(name, '')} |")
        rows += [f"| `{p.relative_to(PACKAGE)}` | {_description(p)} |" for p in _modules() if _layer(p) == name]
    return rows


def _read() -> tuple[list[str], int, int, dict[str, str]]:
    lines = DOC.read_text().splitlines()
    start = lines.index("| module | what it is |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    headers = {}
    for line in lines[start:end]:
        if line.startswith("| **"):
            name, text = line[4:].split("** |", 1)
            headers[name] = text.rstrip(" |").strip()
    return lines, start, end, headers


def test_the_module_map_lists_every_module_with_its_docstring():
    lines, start, end, headers = _read()
    have, want = lines[start:end], table(headers)
    missing = [row for row in want if row not in have]
    stale = [row for row in have if row not in want]
    assert not missing and not stale and have == want, (
        "docs/architecture.md's module map is out of step with the code; `python tests/test_module_map.py "
        "--write` rewrites it.\nexpected rows missing:\n" + "\n".join(missing) + "\nrows to drop:\n" + "\n".join(stale))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    lines, start, end, headers = _read()
    DOC.write_text("\n".join(lines[:start] + table(headers) + lines[end:]) + "\n")
