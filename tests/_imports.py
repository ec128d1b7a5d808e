"""spanlite's import graph read from the source, for the tests that hold its seams (layers, rooms, autolog).

Read from the source, not from ``sys.modules``: a deferred import inside a function counts too, so a module that
reaches across a seam only on some path fails a test rather than some user's app.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def packages() -> dict[str, Path]:
    """Each package of the distribution and its folder, as pyproject maps them (``spanlite.store`` → ``store/``)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}


def modules() -> Iterator[tuple[str, str, Path]]:
    """(package, module name, file) for every module of the distribution."""
    for package, folder in packages().items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            yield package, ".".join([package, *(p for p in parts if p != "__init__")]), path


def imports(module: str, path: Path, *, type_checking: bool = True) -> Iterator[tuple[str, str | None, int]]:
    """(module, name, line) for each import in ``path``: ``import a.b`` gives ``("a.b", None)``, ``from a import b``
    gives ``("a", "b")`` (``b`` a module or a name of ``a``'s), relative imports resolved. ``type_checking=False``
    leaves out the imports under ``if TYPE_CHECKING:``, which never run."""
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> Iterator[tuple[str, str | None, int]]:
        if not type_checking and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            yield from ((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield from ((base, alias.name, node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(), str(path)))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every loop in ``edges`` (each node to the nodes it imports), each as the path from a node back to itself."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for target in sorted(edges[path[-1]]):
            if target == path[0]:
                found.append([*path, target])
            elif target not in path and target > path[0]:  # each loop once, from its smallest node
                walk([*path, target])

    for start in sorted(edges):
        walk([start])
    return found
