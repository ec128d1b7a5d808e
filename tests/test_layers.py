"""Imports run one way: the face (``spanlite/``: ``configure``, the CLI) wires the layers, and no layer imports it.

Read from the source, every import statement (deferred and ``TYPE_CHECKING`` ones too), so that a new module that
reaches up fails here rather than as a cycle at import time in some user's app.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACE = "spanlite"


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


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each import statement in ``path``, relative ones resolved."""
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``base.name`` is a module (``from spanlite import _config``) or belongs to ``base``'s (``trace``)
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def owner(name: str, names: list[str]) -> str | None:
    """The package of ours that module ``name`` belongs to (the longest match), ``None`` for anything else."""
    matches = [p for p in names if name == p or name.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def test_no_layer_imports_the_face_or_config() -> None:
    names = list(packages())
    offences = []
    for package, module, path in modules():
        if package == FACE:
            continue
        for name, line in imported(module, path):
            if owner(name, names) == FACE:
                offences.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offences == [], "the layers must not import spanlite's face or _config:\n" + "\n".join(offences)


def test_no_import_cycle_crosses_a_folder() -> None:
    names = list(packages())
    edges: dict[str, set[str]] = {p: set() for p in names}
    for package, module, path in modules():
        for name, _ in imported(module, path):
            target = owner(name, names)
            if target is not None and target != package:
                edges[package].add(target)
    cycles = [f"{a} -> {b} -> ... -> {a}" for a in edges for b in edges[a] if a in _reachable(b, edges)]
    assert cycles == [], "\n".join(cycles)


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen
