"""The seams between the rooms: imports run one way (the store is the SQLite store only, OTLP sits beside it, and
no room imports in a circle), and the exporters meet the contract the processor declares.

Imports are read from the source (every import, also those inside functions; not those under ``TYPE_CHECKING``,
which never run), so a layer that imports another only on some path is caught too.
"""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from _imports import cycles, imports, modules
from spanlite.otlp._export import OTLPExporter
from spanlite.store import SQLiteSpanExporter
from spanlite.tracing import redaction
from spanlite.tracing._exporters import DeadlineExporter, PackingExporter, StoreExporter


def _runtime_imports(module: str, path: Path) -> set[str]:
    """The modules ``path`` imports when it runs, absolute: ``from a import b`` counts as ``a`` and ``a.b``."""
    found: set[str] = set()
    for base, name, _ in imports(module, path, type_checking=False):
        found.update([base, f"{base}.{name}"] if name else [base])
    return found


def _graph(packages: set[str]) -> dict[str, set[str]]:
    """spanlite's own modules in ``packages`` and the spanlite modules each imports."""
    found = {module: path for package, module, path in modules() if package in packages}
    return {name: {m for m in _runtime_imports(name, p) if m.startswith("spanlite")} for name, p in found.items()}


def test_the_store_is_the_sqlite_store_only() -> None:
    """OTLP's wire formats, HTTP and the face live outside ``store/``: an app that only writes spans loads none of
    them, and the store can be read and written without the ``otlp`` extra."""
    wire = ("google.protobuf", "google.rpc", "opentelemetry.proto", "http.server")
    outside = (*wire, "spanlite.otlp", "spanlite._config")
    for package, module, path in modules():
        if package == "spanlite.store":
            found = _runtime_imports(module, path)
            assert not [m for m in found if m.startswith(outside) or m in ("spanlite", "spanlite.cli")], path.name


def test_the_store_and_otlp_import_in_no_circle() -> None:
    graph = _graph({"spanlite.store", "spanlite.otlp"})
    # A package and its own submodules aside: importing a submodule imports its package first, by design.
    edges = {m: {t for t in ts if t in graph and not m.startswith(t + ".")} for m, ts in graph.items()}
    assert cycles(edges) == []


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
