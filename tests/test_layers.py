"""Imports run one way: the face (``spanlite/``: ``configure``, the CLI) wires the layers, and no layer imports it.

Read from the source, every import statement (deferred and ``TYPE_CHECKING`` ones too), so that a new module that
reaches up fails here rather than as a cycle at import time in some user's app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from _imports import ROOT, cycles, imports, modules, packages

FACE = "spanlite"


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each import statement in ``path``, relative ones resolved."""
    for base, name, line in imports(module, path):
        # ``base.name`` is a module (``from spanlite import _config``) or belongs to ``base``'s (``trace``)
        yield (f"{base}.{name}" if name else base), line


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
    assert cycles(edges) == []
