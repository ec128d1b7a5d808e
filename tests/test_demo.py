"""`spanlite demo` writes realistic traces: agent, tools, retriever and autologged model spans."""

from __future__ import annotations

from pathlib import Path

from spanlite.demo import run_demo
from spanlite.store import TraceStore


def test_demo_writes_agent_traces_with_model_spans(db_path: Path) -> None:
    assert run_demo(db_path) == 8
    with TraceStore(db_path) as store:
        traces = list(store.iter_traces())
        assert len(traces) == 8
        assert {t.name for t in traces} == {"support agent"}
        assert [t.status for t in traces].count("ERROR") == 1
        assert len({t.session_id for t in traces}) == 5
        kinds = {r["kind"] for r in store.rows("SELECT DISTINCT kind FROM spans")}
        assert {"AGENT", "CHAT_MODEL", "TOOL", "RETRIEVER", "EMBEDDING"} <= kinds
        tool_errors = store.search_traces(session_id="session-linus")[0]
        assert tool_errors.status == "OK" and tool_errors.error_count == 1
        assert all(t.input_tokens for t in traces if t.status == "OK")
