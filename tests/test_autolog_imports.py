"""autolog's modules import one way: shared pieces below the integrations, no module reaching back up.

Read from the source, not from ``sys.modules``: every import counts, a deferred one inside a function or one under
``TYPE_CHECKING`` included, since each is a place where two modules must be read together to understand either.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

PACKAGE = "spanlite.autolog"
FOLDER = Path(importlib.util.find_spec(PACKAGE).origin).parent  # type: ignore[arg-type,union-attr]


def _imported(node: ast.AST) -> list[str]:
    """The names of the sibling modules an import statement could reach (filtered against the folder later)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 1:
        module = node.module
    elif node.level == 0 and node.module and (node.module + ".").startswith(PACKAGE + "."):
        module = node.module[len(PACKAGE) + 1 :] or None
    else:
        return []
    return [module.split(".")[0]] if module else [a.name for a in node.names]  # `from . import x` names modules


def import_edges() -> dict[str, set[str]]:
    """Each module of autolog/ and the modules of autolog/ it imports."""
    modules = {path.stem for path in FOLDER.glob("*.py")}
    return {
        path.stem: {name for node in ast.walk(ast.parse(path.read_text())) for name in _imported(node)} & modules
        for path in FOLDER.glob("*.py")
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop, each as the path from a module back to itself."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for target in sorted(edges[path[-1]]):
            if target == path[0]:
                found.append([*path, target])
            elif target not in path and target > path[0]:  # each loop once, from its smallest module
                walk([*path, target])

    for start in sorted(edges):
        walk([start])
    return found


def test_no_import_cycle_inside_autolog() -> None:
    assert cycles(import_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
