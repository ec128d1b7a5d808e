"""The seams between the rooms: imports run one way (the store is the SQLite store only, OTLP sits beside it, and
no room imports in a circle), and the exporters meet the contract the processor declares.

Imports are read from the source (every import, also those inside functions; not those under ``TYPE_CHECKING``,
which never run), so a layer that imports another only on some path is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanlite.otlp._export import OTLPExporter
from spanlite.store import SQLiteSpanExporter
from spanlite.tracing import redaction
from spanlite.tracing._exporters import DeadlineExporter, PackingExporter, StoreExporter

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"tracing", "autolog", "store", "otlp", "viewer"}  # installed as spanlite.<folder>; spanlite/ is the face


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts if parts[0] == "spanlite" else ["spanlite", *parts])


def _runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs, absolute."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def _graph(folders: set[str]) -> dict[str, set[str]]:
    """spanlite's own modules in ``folders`` and the spanlite modules each imports."""
    paths = {_module(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}
    return {name: {m for m in _runtime_imports(p) if m.startswith("spanlite")} for name, p in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among the modules of ``graph`` (a package and its own submodules aside: importing a submodule
    imports its package first, by design)."""
    edges = {m: {t for t in ts if t in graph and not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles = []
    for start in sorted(edges):
        path, seen = [start], {start}
        stack = [iter(sorted(edges[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                seen.discard(path.pop())
            elif nxt == start:
                cycles.append([*path, start])
            elif nxt not in seen and nxt > start:  # each cycle once, from its smallest module
                path.append(nxt)
                seen.add(nxt)
                stack.append(iter(sorted(edges[nxt])))
    return cycles


def test_the_store_is_the_sqlite_store_only() -> None:
    """OTLP's wire formats, HTTP and the face live outside ``store/``: an app that only writes spans loads none of
    them, and the store can be read and written without the ``otlp`` extra."""
    wire = ("google.protobuf", "google.rpc", "opentelemetry.proto", "http.server")
    outside = (*wire, "spanlite.otlp", "spanlite._config")
    for path in (ROOT / "store").rglob("*.py"):
        imports = _runtime_imports(path)
        assert not [m for m in imports if m.startswith(outside) or m in ("spanlite", "spanlite.cli")], path.name


def test_the_store_and_otlp_import_in_no_circle() -> None:
    assert _cycles(_graph({"store", "otlp"})) == []


def test_the_exporters_meet_the_processors_contract(tmp_path: Path) -> None:
    """What the processor uses of an exporter beyond ``export`` is declared (``tracing._exporters``), and spanlite's
    exporters declare what they meet: the SQLite one all of it, the OTLP one its deadline and its errors."""
    store = SQLiteSpanExporter(tmp_path / "contract.db", writer="thread")
    otlp = OTLPExporter("http://127.0.0.1:9/v1/traces", lambda timeout: _Plain(), redaction.secrets)
    assert isinstance(store, StoreExporter) and isinstance(store, SpanExporter)
    assert isinstance(otlp, DeadlineExporter) and not isinstance(otlp, (PackingExporter, StoreExporter))
    assert not isinstance(_Plain(), (PackingExporter, DeadlineExporter))
    store.shutdown()


class _Plain(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS
