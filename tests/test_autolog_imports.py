"""autolog's modules import one way: shared pieces below the integrations, no module reaching back up.

Read from the source, not from ``sys.modules``: every import counts, a deferred one inside a function or one under
``TYPE_CHECKING`` included, since each is a place where two modules must be read together to understand either.
"""

from __future__ import annotations

from _imports import cycles, imports, modules

PACKAGE = "spanlite.autolog"


def import_edges() -> dict[str, set[str]]:
    """Each module of autolog/ and the modules of autolog/ it imports."""
    found = {path.stem: (module, path) for package, module, path in modules() if package == PACKAGE}
    edges: dict[str, set[str]] = {}
    for stem, (module, path) in found.items():
        names = {f"{base}.{name}" if name else base for base, name, _ in imports(module, path)}
        # ``from . import x`` and ``from .x import y`` both reach sibling ``x``: the part after ``spanlite.autolog.``
        edges[stem] = {n.split(".")[2] for n in names if n.startswith(PACKAGE + ".")} & found.keys()
    return edges


def test_no_import_cycle_inside_autolog() -> None:
    assert cycles(import_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_supported_gives_the_names_people_use_and_autolog_takes_them() -> None:
    from spanlite.autolog import autolog, import_names, supported

    assert {"langchain", "bedrock", "gemini", "mistral"} <= set(supported())
    assert not {"langchain_core", "botocore", "google.genai", "mistralai.client"} & set(supported())
    assert len(supported()) == len(import_names())
    autolog(*supported(), *import_names(), disable=True)  # every name and import name is taken
